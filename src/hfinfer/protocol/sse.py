"""Server-Sent Events: bytes in, event data out. No I/O.

Works on bytes and finds events with ``bytes`` methods (C loops), not a
Python loop per line. Two ways out of :class:`SSEParser`:

- :meth:`SSEParser.feed` returns each completed event's ``data`` payload;
- :meth:`SSEParser.take` returns the raw text of the completed events, which
  :func:`data_array` turns into one JSON array when every event is a single
  ``data:`` line (what TGI and OpenAI-style servers send), so a stream's
  events decode in one call. :func:`payloads` is the general fallback.

A complete event is never cut inside a UTF-8 character, so JSON decodes
cleanly even when a character straddled two reads.
"""

from __future__ import annotations

from ..errors import StreamError

__all__ = ["MAX_EVENT_BYTES", "SSEParser", "data_array", "payloads"]

#: No event of the protocols spoken here comes near this; a body that does is not SSE.
MAX_EVENT_BYTES = 16 * 1024 * 1024


class SSEParser:
    """Incremental parser of a ``text/event-stream`` body.

    Events end at a blank line. ``CRLF`` and lone ``CR`` line ends are
    accepted (normalised to ``LF``). Comments (``:keep-alive``) and fields
    other than ``data`` (``event:``, ``id:``, ``retry:``) are skipped. An event
    that grows past ``max_event_bytes`` without ending raises
    :class:`~hfinfer.errors.StreamError`.
    """

    __slots__ = ("_pieces", "_size", "_skip_lf", "max_event_bytes")

    def __init__(self, max_event_bytes: int = MAX_EVENT_BYTES) -> None:
        # The bytes of the event not yet complete, as received (line ends already
        # normalised): kept as pieces and joined once, when the event completes, so
        # a long event that arrives in many reads costs linear time, not quadratic.
        self._pieces: list[bytes] = []
        self._size = 0
        self._skip_lf = False
        self.max_event_bytes = max_event_bytes

    def take(self, chunk: bytes) -> bytes:
        """The raw text of the events ``chunk`` completes (each ending in a blank
        line), or ``b""``; the rest is kept for the next read. Only the new bytes
        are scanned."""
        if not chunk:
            return b""  # an empty read changes nothing (not even a pending CR)
        self._check_size()  # the rest of an earlier read, kept after its complete events
        if self._skip_lf:
            # The last read ended in a CR that was taken as a line end: an LF
            # right after it belongs to the same CRLF.
            self._skip_lf = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
                if not chunk:
                    return b""
        if b"\r" in chunk:
            self._skip_lf = chunk[-1:] == b"\r"
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        pieces = self._pieces
        if not pieces and chunk[-2:] == b"\n\n":
            return chunk  # a read of whole events, as a server writing one per chunk sends
        end = chunk.rfind(b"\n\n")
        if end >= 0:
            cut = end + 2
        elif chunk[:1] == b"\n" and pieces and pieces[-1][-1:] == b"\n":
            cut = 1  # the blank line straddles the two reads
        else:
            pieces.append(chunk)
            self._size += len(chunk)
            self._check_size()
            return b""
        complete = b"".join([*pieces, chunk[:cut]]) if pieces else chunk[:cut]
        rest = chunk[cut:]
        self._pieces = [rest] if rest else []
        self._size = len(rest)
        return complete

    def single_data(self, chunk: bytes) -> bytes | None:
        """The payload when ``chunk`` is exactly one whole event of one non-empty
        ``data:`` line and nothing is pending (what a server writing one event per
        chunk sends, at generation speed one read each), else ``None``: then use
        :meth:`take`. One space after the colon is removed, as :func:`payloads` does."""
        if (
            chunk[-2:] == b"\n\n"
            and chunk[:5] == b"data:"
            and not self._pieces
            and not self._skip_lf
            and chunk.find(b"\n") == len(chunk) - 2  # one line (memchr, not a count)
            and b"\r" not in chunk
        ):
            data = chunk[6:-2] if chunk[5:6] == b" " else chunk[5:-2]
            return data or None  # an event with empty data is not dispatched
        return None

    def feed(self, chunk: bytes) -> list[bytes]:
        """The ``data`` payload of each event ``chunk`` completes (several ``data:``
        lines of one event joined by ``\\n``; one space after the colon removed)."""
        complete = self.take(chunk)
        return payloads(complete) if complete else []

    def _check_size(self) -> None:
        if self._size > self.max_event_bytes:
            raise StreamError(
                f"An event grew past {self.max_event_bytes} bytes without ending: the "
                "server is not sending Server-Sent Events."
            )

    def close(self) -> list[bytes]:
        """Payloads of a final event the stream did not end with a blank line."""
        self._check_size()
        buffer = b"".join(self._pieces).strip(b"\n")
        self._pieces, self._size = [], 0
        return payloads(buffer + b"\n\n") if buffer else []

    @property
    def pending(self) -> bytes:
        """Bytes of an event not yet complete."""
        return b"".join(self._pieces)


def data_array(complete: bytes) -> tuple[bytes, int] | None:
    """``(b"[d1,d2,...]", number of events)`` when every event in ``complete`` is
    one ``data:`` line, else ``None`` (use :func:`payloads`).

    A raw newline cannot occur inside JSON text, so counting newlines proves
    the shape: each event is ``data:...\n\n`` and every ``\n\ndata:`` is a
    boundary; the payloads then join in one ``replace``. The caller checks
    that it decoded one value per event (a line may hold ``{..},{..}``).
    """
    if complete[:5] != b"data:":
        return None
    events = complete.count(b"\n\ndata:") + 1
    if complete.count(b"\n") != 2 * events:
        return None
    return b"[" + complete[5:-2].replace(b"\n\ndata:", b",") + b"]", events


def payloads(complete: bytes) -> list[bytes]:
    """The ``data`` payload of each event in ``complete`` (events with no or empty
    data are skipped, as the WHATWG rules say)."""
    found: list[bytes] = []
    append = found.append
    for block in complete.split(b"\n\n"):
        # The common case, one "data:" line per event, costs one slice.
        if block[:5] == b"data:" and b"\n" not in block:
            line = block[6:] if block[5:6] == b" " else block[5:]
            if line:  # an event whose data is empty is not dispatched (WHATWG)
                append(line)
        elif block:
            data = _block_data(block)
            if data is not None:
                append(data)
    return found


def _block_data(block: bytes) -> bytes | None:
    data_lines = []
    for line in block.split(b"\n"):
        if line[:5] == b"data:":
            data_lines.append(line[6:] if line[5:6] == b" " else line[5:])
        elif line == b"data":
            data_lines.append(b"")
    data = b"\n".join(data_lines)
    return data or None
