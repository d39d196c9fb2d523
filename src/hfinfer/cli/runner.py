"""One event loop for a whole command, where Ctrl-C cancels the running call.

A conversation keeps its connections open across turns, so its turns run
on one loop; Ctrl-C during a turn cancels that turn's task (its code sees
``CancelledError``, writes its log row as ``interrupted``, and the session
goes on), while Ctrl-C at the prompt is the terminal's usual
``KeyboardInterrupt``. This is :class:`asyncio.Runner` (Python 3.11), kept
here so that Python 3.10 behaves the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import Coroutine
from types import FrameType
from typing import Any, TypeVar

__all__ = ["LoopRunner"]

T = TypeVar("T")


class LoopRunner:
    """Run coroutines one after another on one loop; close it with :meth:`close`."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` to its end. Ctrl-C cancels it and then raises
        :class:`KeyboardInterrupt` here, after the coroutine has cleaned up."""
        task = self.loop.create_task(coroutine)
        interrupted = False

        def on_interrupt(signum: int, frame: FrameType | None) -> None:
            nonlocal interrupted
            interrupted = True
            self.loop.call_soon_threadsafe(task.cancel)

        in_main = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGINT, on_interrupt) if in_main else None
        try:
            return self.loop.run_until_complete(task)
        except asyncio.CancelledError:
            if interrupted:
                raise KeyboardInterrupt from None
            raise
        finally:
            if in_main:
                signal.signal(signal.SIGINT, previous)

    def close(self) -> None:
        """Finish async generators and the default executor, then close the loop."""
        loop = self.loop
        with contextlib.suppress(Exception):
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for pending_task in pending:
                pending_task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()

    def __enter__(self) -> LoopRunner:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
