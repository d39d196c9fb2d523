"""Issue 11, hardened for a gateway: a hostile server, template or caller, one
test each, doing exactly the bad thing, bounded in time so a hang fails."""

from __future__ import annotations

import time

from hfinfer.protocol.sse import SSEParser

# -- 8: one long SSE event, many reads -------------------------------------------


def test_one_long_event_in_many_reads_is_linear() -> None:
    # 15 MiB in 8 KiB reads: rebuilding and rescanning the buffer on every read
    # took 16 s here; scanning only the new bytes takes milliseconds.
    event = b"data:" + b"x" * (15 * 2**20) + b"\n\n"
    parser = SSEParser()
    started = time.process_time()
    completed = [parser.take(event[i : i + 8192]) for i in range(0, len(event), 8192)]
    took = time.process_time() - started
    assert [c for c in completed if c] == [event]
    assert parser.pending == b""
    assert took < 3.0  # loose: a quadratic parser needs many times this


def test_an_event_ending_across_two_reads_in_pieces() -> None:
    parser = SSEParser()
    assert parser.take(b"data: a") == b""
    assert parser.take(b"bc\n") == b""
    assert parser.take(b"\ndata: d\r") == b"data: abc\n\n"
    assert parser.take(b"\n\r\n") == b"data: d\n\n"
