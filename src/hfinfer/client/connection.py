"""The plumbing every call of a client shares: the route decided once, the provider
made for it (after asking a server of the user's own, once, which protocol it
speaks), the text-generation provider, and the connection pool's opening and
closing."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..config import ClientSettings
from ..config import router_url as resolve_router_url
from ..providers.discovery import ServerInfo, known_servers
from ..providers.hf_router import HuggingFaceRouter
from .routing import decide

if TYPE_CHECKING:
    from ..providers.hf_inference import HuggingFaceInference

__all__ = ["Connection"]


class Connection:
    """What a client talks to, and the providers it talks through.

    ``provider`` answers chat (``None`` until a server of the user's own said what
    it speaks); ``prompter`` is the text-generation provider (the chat provider on
    ``"tgi"``, else made when first needed). Both are opened with the client."""

    def __init__(
        self,
        api_base: str | None,
        route: str | None,
        router_url: str | None,
        options: dict[str, Any],
    ) -> None:
        self.router_url = resolve_router_url(router_url)
        self.api_base = api_base
        self.target = decide(api_base, route, self.router_url)
        self.route: str = self.target.name
        #: What every provider of the client is made with: ``api_key``, ``proxy``,
        #: ``max_retries``.
        self.options = options
        self.server: ServerInfo | None = None
        self.opened = False
        self.provider: Any = None
        self.prompter: HuggingFaceInference | None = None
        if self.target.protocol is not None:
            self.provider = self._make_provider(self.target.protocol)

    def _make_provider(self, protocol: str) -> Any:
        target, options = self.target, self.options
        provider: Any
        if protocol == "openai":
            provider = HuggingFaceRouter(api_base=target.base, **options)
        else:
            # By model id on Hugging Face's route; else the server's URL is the model
            # (TGI serves one), and a key given for it is sent there only.
            provider = text_generation(target.base, options)
            self.prompter = provider
        if target.hf:
            provider._hf_bases = (self.router_url,)
        return provider

    def settings(self, server: str | None = None) -> ClientSettings:
        """The client's key and proxy, resolved as a call uses them."""
        options = self.options
        return ClientSettings.resolve(
            api_key=options["api_key"], proxy=options["proxy"], server=server
        )

    async def open(self) -> None:
        """Open the providers' connection pool, shared by every call from now on."""
        if self.provider is not None:
            await self.provider.__aenter__()
        self.opened = True

    async def aclose(self) -> None:
        """Close the providers' connection pools."""
        self.opened = False
        if self.provider is not None:
            await self.provider.aclose()
        if self.prompter is not None and self.prompter is not self.provider:
            await self.prompter.aclose()

    async def server_info(self) -> ServerInfo:
        """What the server at ``api_base`` speaks and serves (asked once per base)."""
        if self.server is None:
            target = self.target
            settings = self.settings(server=None if target.hf else target.base)
            self.server = await known_servers.get(target.base, settings)
        return self.server

    async def chat_provider(self) -> Any:
        """The provider for this client's server (asking it which protocol it speaks,
        the first time)."""
        if self.provider is None:
            protocol = (await self.server_info()).protocol
            if self.provider is None:  # not made meanwhile by a concurrent call
                self.provider = self._make_provider(protocol)
                self.route = protocol
                if self.opened:
                    await self.provider.__aenter__()
        return self.provider

    async def text_route(self) -> HuggingFaceInference:
        """The text-generation provider: this client's on the ``"tgi"`` route, else one
        for the router's hf-inference route, opened with the client. A key given for
        a server of the user's own is not handed to Hugging Face's route."""
        if self.prompter is None and not self.target.hf:
            await self.chat_provider()  # the server's protocol decides (tgi: its provider)
        if self.prompter is None:
            options = self.options if self.target.hf else {**self.options, "api_key": None}
            self.prompter = text_generation(self.api_base if self.route == "tgi" else None,
                                            options)  # fmt: skip
            if self.opened:
                await self.prompter.__aenter__()
        return self.prompter


def text_generation(api_base: str | None, options: dict[str, Any]) -> HuggingFaceInference:
    """A text-generation provider for ``api_base`` (``None``: Hugging Face's route)."""
    from ..providers.hf_inference import HuggingFaceInference  # Jinja: load when used

    return HuggingFaceInference(api_base=api_base, **options)
