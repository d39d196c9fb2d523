"""``async with`` for anything that frees what it holds in :meth:`aclose`.

The client, its streams and the providers all close the same way; this is that
way, written once. It imports nothing of hfinfer, so every layer may use it.
"""

from __future__ import annotations

from typing import TypeVar

__all__ = ["AsyncClosing"]

S = TypeVar("S", bound="AsyncClosing")


class AsyncClosing:
    """Entering gives the object itself; leaving, however it is left, awaits
    :meth:`aclose`. A subclass that must open something on entry overrides
    :meth:`__aenter__` only."""

    async def __aenter__(self: S) -> S:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Free what the object holds (safe to call twice)."""
        raise NotImplementedError
