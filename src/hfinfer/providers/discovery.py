"""Which protocol a server of the user's own speaks, found out once per base URL.

``GET {base}/v1/models`` answers on OpenAI-compatible servers (llama.cpp's
``llama-server``, vLLM, ollama, SGLang, and TGI 2 and later, whose Messages
API applies the model's own chat template): those get OpenAI's chat route.
Else ``GET {base}/info`` answers on text-generation-inference: its own
protocol. The answer is remembered per base (for the process); a server
that cannot be reached or is still loading is asked again next time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any, Literal

from ..config import ClientSettings, Timeouts
from ..errors import (
    AuthenticationError,
    HFInferenceError,
    ModelNotFoundError,
    ResponseError,
    ServerError,
)
from ..hosts import server_base
from ..http.retry import RetryPolicy
from ..http.session import HttpClient
from ..hub.cache import single_flight
from ..protocol.repo_ids import is_repo_id

__all__ = ["DISCOVERY_TIMEOUTS", "ServerInfo", "ServerProtocols", "known_servers"]

logger = logging.getLogger(__name__)

#: Asking a server what it is should be quick; a generation is not waited for here.
DISCOVERY_TIMEOUTS = Timeouts(connect=5.0, first_byte=15.0, stream_gap=15.0, total=15.0)
_RETRY = RetryPolicy(max_retries=1, backoff_base=0.2, backoff_cap=1.0, max_wait=2.0, max_total=5.0)

Protocol = Literal["openai", "tgi"]


@dataclass(frozen=True)
class ServerInfo:
    """What a server said about itself: the ``protocol`` it speaks and the model
    names it lists (``/v1/models`` ids, or the ``model_id`` of TGI's ``/info``)."""

    protocol: Protocol
    models: tuple[str, ...] = ()


class ServerProtocols:
    """The protocol of each base URL, asked once and remembered."""

    def __init__(self) -> None:
        self._known: dict[str, ServerInfo] = {}

    def clear(self) -> None:
        """Forget every server (tests; a server that changed what it runs)."""
        self._known.clear()

    def known(self, base: str) -> ServerInfo | None:
        return self._known.get(server_base(base))

    async def get(self, base: str, settings: ClientSettings) -> ServerInfo:
        """The server's :class:`ServerInfo`, asking it when not known yet.

        Raises :class:`~hfinfer.errors.ConnectionError` or
        :class:`~hfinfer.errors.TimeoutError` when it cannot be reached.
        """
        base = server_base(base)
        known = self._known.get(base)
        if known is not None:
            return known

        async def ask() -> ServerInfo:
            found = self._known.get(base)
            if found is None:
                found, lasting = await _ask(base, settings)
                if lasting:
                    self._known[base] = found
                logger.info("%s speaks the %s protocol", base, found.protocol)
            return found

        return await single_flight(f"discover|{base}", ask)


#: The process's memory of servers (one per process, like the Hub caches).
known_servers = ServerProtocols()


async def _ask(base: str, settings: ClientSettings) -> tuple[ServerInfo, bool]:
    """The server's info, and whether it is worth remembering."""
    settings = replace(settings, timeouts=DISCOVERY_TIMEOUTS)
    async with HttpClient(settings, retry=_RETRY) as http:
        try:
            listed = await http.get_json(f"{base}/v1/models")
        except AuthenticationError:
            return ServerInfo("openai"), True  # it guards /v1/models: an OpenAI-style server
        except ServerError:
            return ServerInfo("openai"), False  # loading (llama.cpp answers 503): ask later
        except (ModelNotFoundError, ResponseError):
            listed = None
        if listed is not None:
            return ServerInfo("openai", _listed_names(listed)), True
        try:
            info = await http.get_json(f"{base}/info")
        except HFInferenceError as exc:
            if isinstance(exc, (ModelNotFoundError, ResponseError)) and not isinstance(
                exc, ServerError
            ):
                # Neither answered: most servers speak OpenAI's protocol; the chat's own
                # error will say what this one thinks.
                return ServerInfo("openai"), True
            raise
    if isinstance(info, dict):
        served = info.get("model_id")
        return ServerInfo("tgi", (served,) if is_repo_id(served) else ()), True
    return ServerInfo("openai"), True


def _listed_names(listed: Any) -> tuple[str, ...]:
    data = listed.get("data") if isinstance(listed, dict) else None
    if not isinstance(data, list):
        return ()
    names = (entry.get("id") for entry in data if isinstance(entry, dict))
    return tuple(name for name in names if isinstance(name, str) and name)
