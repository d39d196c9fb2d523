"""From the model name a caller sent to the client calls that serve it.

:func:`resolve_model` applies the edge checks (no URLs, the allow-list),
aliases and upstreams, and returns the targets to try in order;
:func:`first_answer` runs a call against them, moving to the next one only
before anything was sent to the caller and only when a retry elsewhere can
help (429, 5xx, a connection that failed). :func:`start_chat` is both for
chat, the call the chat routes (and any later route) share.

These names are stable: other routes build on them.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from .. import errors
from .errors import EdgeError

if TYPE_CHECKING:
    from ..client import AsyncClient, ChatResponse, ChatStream
    from .gateway import Gateway

__all__ = ["Target", "first_answer", "is_retryable_elsewhere", "resolve_model", "start_chat"]

logger = logging.getLogger(__name__)
T = TypeVar("T")

#: A Hub id (``name`` or ``owner/name``) with an optional ``:provider`` or ``:policy``.
_HUB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?(:[A-Za-z0-9._-]+)?")
_MAX_NAME = 200


@dataclass(frozen=True, slots=True)
class Target:
    """One way to serve a model: the client to call, the model name to call it with,
    and ``upstream`` (``"router"`` or the name of an upstream of the config)."""

    client: AsyncClient
    model: str
    upstream: str


def _refuse_url(name: str) -> None:
    lowered = name.lower()
    if "://" in lowered or lowered.startswith(("//", "http:", "https:", "file:", "data:")):
        raise EdgeError(
            400,
            "Model names that are URLs are refused: this gateway only calls the upstreams "
            "it is configured with. Send a model id such as 'org/name'.",
            code="invalid_model",
            param="model",
        )


def _allowed(gateway: Gateway, name: str) -> bool:
    allowed = gateway.config.models
    return not allowed or name in allowed or name.partition(":")[0] in allowed


def _not_found(name: str) -> EdgeError:
    return EdgeError(
        404,
        f"The model {name!r} is not served by this gateway. GET /v1/models lists the models "
        "it serves.",
        code="model_not_found",
        param="model",
    )


def _target(gateway: Gateway, entry: str) -> Target:
    upstream, sep, model = entry.partition(":")
    if sep and upstream in gateway.upstream_clients:
        return Target(gateway.upstream_clients[upstream], model, upstream)
    for name, upstream_config in gateway.config.upstreams.items():
        if entry in upstream_config.models:
            return Target(gateway.upstream_clients[name], entry, name)
    return Target(gateway.router, entry, "router")


def resolve_model(gateway: Gateway, name: str) -> tuple[Target, ...]:
    """The targets that serve ``name``, in the order to try them.

    Aliases and the models of the config's upstreams are the owner's choice
    and always served; the allow-list (when there is one) holds for the rest.
    Raises :class:`~hfinfer.server.errors.EdgeError`: 400 for a URL or a name
    that is no model id, 404 for a model outside the allow-list.
    """
    _refuse_url(name)
    alias = gateway.config.aliases.get(name)
    if alias is not None:
        return tuple(_target(gateway, entry) for entry in alias.use)
    target = _target(gateway, name)
    if target.upstream != "router":
        listed = gateway.config.upstreams[target.upstream].models
        if listed and target.model not in listed:
            raise _not_found(name)
        return (target,)
    if len(name) > _MAX_NAME or not _HUB_ID.fullmatch(name):
        raise EdgeError(
            400,
            f"{name[:_MAX_NAME]!r} is not a model id: use 'org/name', optionally with "
            "':provider', ':fastest' or ':cheapest'.",
            code="invalid_model",
            param="model",
        )
    if not _allowed(gateway, name):
        raise _not_found(name)
    return (target,)


def is_retryable_elsewhere(exc: BaseException) -> bool:
    """Whether another target may succeed: 429, 5xx and connection failures."""
    if isinstance(exc, (errors.RateLimitError, errors.ServerError)):
        return True
    if isinstance(exc, errors.CertificateError):
        return False
    if isinstance(exc, errors.ConnectionError):
        return True
    if isinstance(exc, errors.TimeoutError):
        return exc.phase in ("connect", "first_byte")
    status = getattr(exc, "status", None)
    return isinstance(exc, errors.ResponseError) and isinstance(status, int) and status >= 500


async def first_answer(
    targets: tuple[Target, ...], call: Callable[[Target], Awaitable[T]]
) -> tuple[T, Target]:
    """``call`` on each target in turn until one answers; the answer and its target.

    ``call`` must return before it hands anything to the caller (a stream after
    its first chunk): a later failure is the caller's, not retried here.
    """
    for position, target in enumerate(targets):
        try:
            return await call(target), target
        except errors.HFInferenceError as exc:
            if position == len(targets) - 1 or not is_retryable_elsewhere(exc):
                raise
            logger.info("%s via %s failed (%s); trying the next target", target.model,
                        target.upstream, type(exc).__name__)  # fmt: skip
    raise AssertionError("no targets")  # resolve_model never returns none


async def start_chat(
    gateway: Gateway,
    name: str,
    messages: list[Any],
    *,
    stream: bool,
    **options: Any,
) -> tuple[ChatResponse | ChatStream, Target]:
    """Resolve ``name`` and start the chat on the first target that answers.

    ``options`` go to :meth:`hfinfer.AsyncClient.chat`. With ``stream=True``
    the result is a started :class:`~hfinfer.ChatStream` (its first chunk has
    arrived); iterate it inside ``async with``.
    """
    targets = resolve_model(gateway, name)

    async def call(target: Target) -> ChatResponse | ChatStream:
        chat: Any = target.client.chat  # one call for both overloads
        return await chat(target.model, messages, stream=stream, **options)

    return await first_answer(targets, call)
