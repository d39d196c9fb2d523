"""The provider contract that code written for gpt4free's providers relies on.

``create_async_generator`` is the one method a provider writes; the blocking
``create_completion`` and the joined ``create_async`` are derived from it.
The blocking twin runs the async code on a private loop in a worker thread,
so it works inside and outside a running event loop.
"""

from __future__ import annotations

import asyncio
import atexit
import sys
import threading
import types
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, ClassVar, Generic, TypeVar

from ..errors import InvalidRequestError
from ..types import Chunk, Messages

__all__ = [
    "AsyncGeneratorProvider",
    "ProviderModelMixin",
    "hybridmethod",
    "instancemethod",
    "iterate_in_thread",
]

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class hybridmethod(Generic[T_co]):
    """A method bound to the instance when called on one, else to the class.

    The seed's API is classmethods, and its example calls them on an instance;
    an instance opened with ``async with`` lends its connection pool this way.
    """

    def __init__(self, func: Callable[..., T_co]) -> None:
        self.__func__ = func
        self.__doc__ = func.__doc__
        self.__name__ = func.__name__

    def __get__(self, obj: object, owner: type | None = None) -> Callable[..., T_co]:
        return types.MethodType(self.__func__, owner if obj is None else obj)


class instancemethod(Generic[T_co]):
    """A method that always runs on an instance: called on the class, it binds a
    new, unopened instance (no pool of its own: the call opens its connections).

    The seed calls ``create_async_generator`` on the class; a body written for
    ``self`` then serves both forms, with a typed ``self``.
    """

    def __init__(self, func: Callable[..., T_co]) -> None:
        self.__func__ = func
        self.__doc__ = func.__doc__
        self.__name__ = func.__name__

    def __get__(self, obj: object, owner: type | None = None) -> Callable[..., T_co]:
        assert owner is not None
        return types.MethodType(self.__func__, owner() if obj is None else obj)


#: Blocking streams still open, closed at interpreter exit while their loop thread
#: can still run (a generator finalised later could no longer close its session).
_open_streams: weakref.WeakSet[Any] = weakref.WeakSet()


@atexit.register
def _close_open_streams() -> None:
    for stream in list(_open_streams):
        stream.close()


def iterate_in_thread(make: Callable[[], AsyncIterator[T]]) -> Iterator[T]:
    """Drive an async iterator from blocking code, on a private loop in a thread."""
    stream = _iterate_in_thread(make)
    _open_streams.add(stream)
    return stream


def _iterate_in_thread(make: Callable[[], AsyncIterator[T]]) -> Iterator[T]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="hfinfer-sync", daemon=True)
    thread.start()
    iterator: AsyncIterator[T] | None = None

    async def start() -> AsyncIterator[T]:
        return make()

    async def step(it: AsyncIterator[T]) -> T:
        return await it.__anext__()

    try:
        iterator = asyncio.run_coroutine_threadsafe(start(), loop).result()
        while True:
            try:
                item = asyncio.run_coroutine_threadsafe(step(iterator), loop).result()
            except StopAsyncIteration:
                return
            yield item
    finally:
        _close_thread_loop(loop, thread, iterator)


def run_in_thread(make: Callable[[], Any]) -> Any:
    """Run one coroutine to its end on a private loop in a thread; return its result."""
    result: list[Any] = []
    for item in iterate_in_thread(lambda: _single(make)):
        result.append(item)
    return result[0]


async def _single(make: Callable[[], Any]) -> AsyncIterator[Any]:
    yield await make()


def _close_thread_loop(
    loop: asyncio.AbstractEventLoop, thread: threading.Thread, iterator: Any
) -> None:
    if sys.is_finalizing():
        return  # the thread cannot run any more; atexit closed what it could

    async def shutdown() -> None:
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None:
            await aclose()
        await loop.shutdown_asyncgens()

    try:
        asyncio.run_coroutine_threadsafe(shutdown(), loop).result(timeout=30)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        loop.close()


def check_messages(messages: Any, *, allow_empty: bool = False) -> Messages:
    """Refuse what is not a list of ``{"role", "content"}`` dicts, with a clear error."""
    if isinstance(messages, str):
        return [{"role": "user", "content": messages}]
    if not isinstance(messages, list) or (not messages and not allow_empty):
        raise InvalidRequestError(
            'messages must be a non-empty list like [{"role": "user", "content": "Hi"}]'
        )
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or "role" not in message:
            raise InvalidRequestError(
                f"messages[{index}] must be a dict with 'role' and 'content', got {message!r:.80}"
            )
    return messages


class ProviderModelMixin:
    """Model names: a default, aliases, and the list a provider offers."""

    default_model: ClassVar[str | None] = None
    models: ClassVar[list[str]] = []
    model_aliases: ClassVar[dict[str, str]] = {}
    image_models: ClassVar[list[str]] = []

    @classmethod
    def get_models(cls, **kwargs: Any) -> list[str]:
        """The models this provider offers."""
        if not cls.models and cls.default_model:
            return [cls.default_model]
        return list(cls.models)

    @classmethod
    def get_model(cls, model: str | None, **kwargs: Any) -> str:
        """Resolve a name: empty → the default model; an alias → its target; else as is."""
        if not model:
            if not cls.default_model:
                raise InvalidRequestError(f"{cls.__name__} needs a model name")
            return cls.default_model
        if not isinstance(model, str):
            raise InvalidRequestError(f"model must be a string, got {type(model).__name__}")
        model = model.strip()
        return cls.model_aliases.get(model, model)


class AsyncGeneratorProvider:
    """A provider whose one job is ``create_async_generator``."""

    url: ClassVar[str | None] = None
    parent: ClassVar[str | None] = None
    label: ClassVar[str | None] = None
    working: ClassVar[bool] = False
    needs_auth: ClassVar[bool] = False
    supports_stream: ClassVar[bool] = True
    supports_system_message: ClassVar[bool] = True
    supports_message_history: ClassVar[bool] = True

    @hybridmethod
    def create_async_generator(
        self_or_cls: Any, model: str, messages: Messages, **kwargs: Any
    ) -> AsyncIterator[Chunk]:
        """Yield the answer as the stream vocabulary of :mod:`hfinfer.types`."""
        raise NotImplementedError

    @hybridmethod
    def create_completion(
        self_or_cls: Any, model: str, messages: Messages, stream: bool = True, **kwargs: Any
    ) -> Iterator[Chunk]:
        """The blocking twin of ``create_async_generator``: yields the same chunks."""
        return iterate_in_thread(
            lambda: self_or_cls.create_async_generator(model, messages, stream=stream, **kwargs)
        )

    @hybridmethod
    async def create_async(self_or_cls: Any, model: str, messages: Messages, **kwargs: Any) -> str:
        """The whole answer text, joined (non-text chunks are dropped)."""
        parts = [
            chunk
            async for chunk in self_or_cls.create_async_generator(model, messages, **kwargs)
            if isinstance(chunk, str)
        ]
        return "".join(parts)
