"""Server-Sent Events: bytes in, event data payloads out. No I/O.

Works on bytes and splits on blank lines with ``bytes.split``, so the cost
per event is a slice, not a Python loop per line. JSON is left to the caller:
a complete event is never cut inside a UTF-8 character, so it decodes
cleanly even when a character straddled two reads.
"""

from __future__ import annotations

__all__ = ["SSEParser"]


class SSEParser:
    """Incremental parser of an ``text/event-stream`` body.

    ``feed`` returns the ``data`` payload of each event the chunk completes
    (several ``data:`` lines of one event joined by ``\\n``, one optional space
    after the colon removed); comments (``:keep-alive``) and other fields
    (``event:``, ``id:``, ``retry:``) are skipped; events without data yield
    nothing. ``CRLF`` and lone ``CR`` line ends are accepted.
    """

    __slots__ = ("_buffer",)

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, chunk: bytes) -> list[bytes]:
        buffer = self._buffer + chunk if self._buffer else chunk
        held = b""
        if b"\r" in buffer:
            # A CR at the very end may be the first half of a CRLF split across reads.
            if buffer[-1:] == b"\r":
                buffer, held = buffer[:-1], b"\r"
            buffer = buffer.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        if b"\n\n" not in buffer:
            self._buffer = buffer + held
            return []
        blocks = buffer.split(b"\n\n")
        self._buffer = blocks.pop() + held
        payloads = []
        append = payloads.append
        for block in blocks:
            # The common case, one "data:" line per event, costs one slice.
            if block[:5] == b"data:" and b"\n" not in block:
                append(block[6:] if block[5:6] == b" " else block[5:])
            elif block:
                data = _block_data(block)
                if data is not None:
                    append(data)
        return payloads

    def close(self) -> list[bytes]:
        """Payloads of a final event the stream did not end with a blank line."""
        buffer, self._buffer = self._buffer.replace(b"\r", b"\n").strip(b"\n"), b""
        if not buffer:
            return []
        data = _block_data(buffer)
        return [] if data is None else [data]

    @property
    def pending(self) -> bytes:
        """Bytes of an event not yet complete."""
        return self._buffer


def _block_data(block: bytes) -> bytes | None:
    data_lines = []
    for line in block.split(b"\n"):
        if line[:5] == b"data:":
            data_lines.append(line[6:] if line[5:6] == b" " else line[5:])
        elif line == b"data":
            data_lines.append(b"")
    if not data_lines:
        return None
    return b"\n".join(data_lines)
