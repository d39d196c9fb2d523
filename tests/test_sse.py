"""The SSE parser and the TGI event decoder, alone: bytes in, events out.

Property tests (hypothesis) check that how a byte stream is cut into reads
never changes the events, that the parser agrees with a line-by-line reading
of the WHATWG rules, and that garbage only ever yields events or our own error.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from hfinfer.errors import HFInferenceError, StreamError
from hfinfer.protocol.sse import SSEParser, data_array, payloads
from hfinfer.protocol.tgi import TextStream
from hfinfer.types import FinishReason, Usage

#: No example database: the run writes nothing into the working tree.
PROPERTY = settings(
    max_examples=120,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


# -- a reference reading of the rules -----------------------------------------------------


def reference_events(stream: bytes) -> list[bytes]:
    """The data of every event a blank line completes, read line by line as the
    WHATWG rules say (CRLF, LF and a lone CR each end a line).

    One deliberate difference, the one :mod:`hfinfer.protocol.sse` documents: an
    event whose data is empty is skipped (WHATWG would dispatch ``data:`` alone
    as an empty message; a TGI or OpenAI stream has no use for one).
    """
    lines = re.split(rb"\r\n|\r|\n", stream)
    events: list[bytes] = []
    data: list[bytes] = []
    for line in lines[:-1]:  # the last piece has no line end yet
        if line == b"":
            joined = b"\n".join(data)
            if joined:
                events.append(joined)
            data = []
            continue
        if line.startswith(b":"):
            continue
        name, colon, value = line.partition(b":")
        if colon and value.startswith(b" "):
            value = value[1:]
        if name == b"data":
            data.append(value)
    return events


def split_at(stream: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c for c in cuts if 0 < c < len(stream)})
    return [stream[a:b] for a, b in itertools.pairwise([0, *points, len(stream)])]


def feed_all(chunks: list[bytes]) -> tuple[list[bytes], SSEParser]:
    parser = SSEParser()
    events: list[bytes] = []
    for chunk in chunks:
        events.extend(parser.feed(chunk))
    return events, parser


def take_all(chunks: list[bytes]) -> list[bytes]:
    parser = SSEParser()
    events: list[bytes] = []
    for chunk in chunks:
        complete = parser.take(chunk)
        assert complete == b"" or complete.endswith(b"\n\n")
        events.extend(payloads(complete) if complete else [])
    return events


# -- strategies ----------------------------------------------------------------------------

ENDINGS = st.sampled_from([b"\n", b"\r\n", b"\r"])
#: A line's text: any bytes but CR and LF (a UTF-8 character may be in it).
LINE_TEXT = st.one_of(
    st.binary(max_size=12).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"")),
    st.text(max_size=8).map(
        lambda s: s.replace("\r", "").replace("\n", "").encode("utf-8", "surrogatepass")
    ),
)


@st.composite
def sse_line(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["data", "data_space", "data_bare", "comment", "field"]))
    value = draw(LINE_TEXT)
    if kind == "data":
        return b"data:" + value
    if kind == "data_space":
        return b"data: " + value
    if kind == "data_bare":
        return b"data"
    if kind == "comment":
        return b":" + value
    name = draw(st.sampled_from([b"event", b"id", b"retry", b"datum", b"Data"]))
    return name + b":" + value


@st.composite
def sse_stream(draw: st.DrawFn) -> bytes:
    """Whole events, each line with its own line end, each event ended by a blank line."""
    out = b""
    previous_end = b"\n"
    for _ in range(draw(st.integers(0, 6))):
        for line in draw(st.lists(sse_line(), max_size=4)):
            previous_end = draw(ENDINGS)
            out += line + previous_end
        blank = draw(ENDINGS)
        if previous_end == b"\r" and blank == b"\n":
            blank = b"\r\n"  # a CR then an LF would be one line end, not two
        out += blank
        previous_end = blank
    return out


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=8,
)


# -- the parser: unit tests ----------------------------------------------------------------


def test_one_event_per_read_is_passed_through() -> None:
    parser = SSEParser()
    assert parser.feed(b'data:{"a":1}\n\n') == [b'{"a":1}']
    assert parser.feed(b'data: {"a":2}\n\n') == [b'{"a":2}']
    assert parser.pending == b""


def test_data_with_and_without_a_space_and_only_one_space_removed() -> None:
    events, _ = feed_all([b"data:x\n\ndata: x\n\ndata:  x\n\n"])
    assert events == [b"x", b"x", b" x"]


def test_multi_line_data_is_joined_with_newlines() -> None:
    events, _ = feed_all([b"data:first\ndata: second\ndata:\n\ndata\ndata:z\n\n"])
    assert events == [b"first\nsecond\n", b"\nz"]


def test_comments_and_other_fields_are_skipped() -> None:
    stream = b": keep-alive\n\nevent: token\nid: 7\nretry: 100\ndata:x\n:mid\n\n:ping\n\n"
    events, parser = feed_all([stream])
    assert events == [b"x"]
    assert parser.close() == []


def test_crlf_split_between_reads() -> None:
    events, parser = feed_all([b"data:a\r", b"\n\r", b"\ndata:b\r\n\r", b"\n"])
    assert events == [b"a", b"b"]
    assert parser.pending == b""


def test_a_crlf_split_between_reads_is_one_line_end() -> None:
    events, _ = feed_all([b"data:a\r", b"\ndata:b\r\n\r\n"])
    assert events == [b"a\nb"]


def test_lone_cr_line_ends_dispatch_at_once() -> None:
    events, parser = feed_all([b"data:a\r\rdata:b\r", b"\r"])
    assert events == [b"a", b"b"]
    assert parser.close() == []


def test_an_empty_read_changes_nothing() -> None:
    events, _ = feed_all([b"data:a\r", b"", b"\ndata:b\n\n"])
    assert events == [b"a\nb"]


def test_an_event_split_anywhere_waits_until_complete() -> None:
    stream = b'data:{"token":{"text":"caf\xc3\xa9"}}\n\n'
    for cut in range(1, len(stream)):
        events, _ = feed_all([stream[:cut], stream[cut:]])
        assert events == [b'{"token":{"text":"caf\xc3\xa9"}}'], cut


def test_close_returns_a_final_event_without_its_blank_line() -> None:
    parser = SSEParser()
    assert parser.feed(b"data:a\n\ndata:b") == [b"a"]
    assert parser.pending == b"data:b"
    assert parser.close() == [b"b"]
    assert parser.close() == []


def test_close_after_a_clean_end_returns_nothing() -> None:
    parser = SSEParser()
    parser.feed(b"data:a\r\n\r\n")
    assert parser.close() == []


def test_data_array_joins_single_line_events() -> None:
    for complete, values in [
        (b"data:1\n\n", [1]),
        (b"data: 1\n\ndata: 2\n\n", [1, 2]),
        (b'data:1\n\ndata:"x"\n\ndata:{"a":3}\n\n', [1, "x", {"a": 3}]),
    ]:
        batch = data_array(complete)
        assert batch is not None
        array, count = batch
        assert json.loads(array) == values and count == len(values)


@pytest.mark.parametrize(
    "complete",
    [
        b":ping\n\ndata:1\n\n",
        b"data:1\ndata:2\n\n",
        b"event:x\ndata:1\n\n",
        b"data:1\n\n:ping\n\n",
        b"data:1\n\nid:2\n\n",
        b"data:1,2\n\n",
    ],
)
def test_data_array_never_passes_for_other_shapes(complete: bytes) -> None:
    # Either no array, or one that does not decode to one value per event.
    batch = data_array(complete)
    if batch is None:
        return
    array, count = batch
    try:
        values = json.loads(array)
    except ValueError:
        return
    assert len(values) != count


# -- the parser: properties ---------------------------------------------------------------


@PROPERTY
@given(stream=sse_stream(), cuts=st.lists(st.integers(0, 400), max_size=12))
@example(stream=b"data:a\r\n\r\n", cuts=[7])
@example(stream=b"data:a\r\rdata:b\r\r", cuts=[7, 8])
@example(stream=b"data:x\n\r\n", cuts=[7])
def test_any_split_of_a_valid_stream_gives_the_same_events(stream: bytes, cuts: list[int]) -> None:
    whole, whole_parser = feed_all([stream])
    assert whole == reference_events(stream)
    assert whole_parser.close() == []  # every event ended with its blank line
    pieces = split_at(stream, cuts)
    assert b"".join(pieces) == stream
    split, split_parser = feed_all(pieces)
    assert split == whole
    assert take_all(pieces) == whole
    assert split_parser.close() == []


@PROPERTY
@given(stream=sse_stream(), size=st.integers(1, 5))
def test_byte_by_byte_and_small_reads_give_the_same_events(stream: bytes, size: int) -> None:
    pieces = [stream[i : i + size] for i in range(0, len(stream), size)]
    assert feed_all(pieces)[0] == reference_events(stream)


@PROPERTY
@given(
    garbage=st.binary(max_size=300)
    | st.lists(st.sampled_from([b"data:", b"data", b"\r", b"\n", b":", b" ", b"x", b"{"])).map(
        b"".join
    ),
    cuts=st.lists(st.integers(0, 300), max_size=10),
)
def test_garbage_gives_events_never_an_exception(garbage: bytes, cuts: list[int]) -> None:
    events, parser = feed_all(split_at(garbage, cuts))
    assert all(isinstance(e, bytes) for e in events)
    assert events == reference_events(garbage)
    rest = parser.close()
    assert all(isinstance(e, bytes) for e in rest)


@PROPERTY
@given(
    values=st.lists(JSON_VALUES, min_size=1, max_size=6),
    space=st.booleans(),
    cuts=st.lists(st.integers(0, 600), max_size=8),
)
def test_data_array_decodes_like_one_event_at_a_time(
    values: list[Any], space: bool, cuts: list[int]
) -> None:
    prefix = b"data: " if space else b"data:"
    stream = b"".join(prefix + json.dumps(v).encode() + b"\n\n" for v in values)
    parser = SSEParser()
    decoded: list[Any] = []
    for piece in split_at(stream, cuts):
        complete = parser.take(piece)
        if not complete:
            continue
        one_by_one = [json.loads(p) for p in payloads(complete)]
        batch = data_array(complete)
        assert batch is not None
        array, count = batch
        assert json.loads(array) == one_by_one and count == len(one_by_one)
        decoded.extend(one_by_one)
    assert decoded == values


# -- TextStream: TGI events ------------------------------------------------------------------


def token_event(text: str, *, final: bool = False) -> bytes:
    event = {
        "index": 1,
        "token": {"id": 1, "text": text, "logprob": -0.1, "special": final},
        "generated_text": "" if final else None,
        "details": {"finish_reason": "eos_token", "generated_tokens": 1} if final else None,
    }
    return json.dumps(event).encode()


def tgi_stream(tokens: list[str], *, final: bool = True, crlf: bool = False) -> bytes:
    end = b"\r\n" if crlf else b"\n"
    return b"".join(
        b"data:" + token_event(text, final=final and i == len(tokens) - 1) + end + end
        for i, text in enumerate(tokens)
    )


def run_text_stream(chunks: list[bytes]) -> tuple[str, list[Usage | FinishReason]]:
    """What the provider's streaming loop does with the reads of one body."""
    state = TextStream()
    out = []
    for chunk in chunks:
        out.append(state.read(chunk))
        if state.error is not None:
            raise state.error
    out.append(state.close())
    tail = state.finish()
    return "".join(out), tail


def events_of(stream: bytes) -> list[bytes]:
    """Each event of a stream on its own, as a server writing one per chunk sends them."""
    return [event + b"\n\n" for event in stream.split(b"\n\n") if event]


def outcome(chunks: list[bytes]) -> tuple[Any, ...]:
    """Everything a caller sees of a body read in these chunks, an error included."""
    try:
        text, tail = run_text_stream(chunks)
    except StreamError as exc:
        return ("error", str(exc), exc.partial_text, exc.tokens_received)
    return ("ok", text, tail)


@PROPERTY
@given(
    events=st.lists(
        st.sampled_from(
            [
                b'data:{"token":{"text":" a","special":false}}',
                b'data: {"token":{"text":"b","special":false}}',
                b'data:{"token":{"text":"</s>","special":true},"generated_text":"a b",'
                b'"details":{"finish_reason":"eos_token","generated_tokens":3}}',
                b"data:[DONE]",
                b'data:{"token":{"text":"A"}},{"token":{"text":"B"}}',
                b'data:{"error":"overloaded","error_type":"generation"}',
                b"data:{broken",
                b": keep-alive",
                b"event: message\ndata:" + b'{"token":{"text":"c"}}',
            ]
        ),
        min_size=1,
        max_size=8,
    )
)
def test_one_event_per_read_is_read_exactly_as_the_whole_body(events: list[bytes]) -> None:
    """The one-event-per-read path gives the caller what the general path gives."""
    stream = b"".join(event + b"\n\n" for event in events)
    assert outcome(events_of(stream)) == outcome([stream])


def test_single_data_only_takes_one_whole_event_with_nothing_pending() -> None:
    parser = SSEParser()
    assert parser.single_data(b"data:{}\n\n") == b"{}"
    assert parser.single_data(b"data: {}\n\n") == b"{}"
    assert parser.single_data(b"data:  [DONE]\n\n") == b" [DONE]"  # only one space goes
    assert parser.single_data(b"data:{}\n\ndata:{}\n\n") is None
    assert parser.single_data(b"data:\n\n") is None and parser.single_data(b"data: \n\n") is None
    assert parser.single_data(b"data:{}\r\n\r\n") is None
    assert parser.single_data(b"data:a\ndata:b\n\n") is None
    assert parser.single_data(b"id: 1\ndata:{}\n\n") is None
    assert parser.take(b"data:{") == b""
    assert parser.single_data(b"data:{}\n\n") is None  # an event is pending


@PROPERTY
@given(
    tokens=st.lists(st.text(min_size=1, max_size=5), min_size=1, max_size=12),
    cuts=st.lists(st.integers(0, 3000), max_size=15),
    crlf=st.booleans(),
)
def test_any_split_of_a_tgi_stream_gives_the_same_text(
    tokens: list[str], cuts: list[int], crlf: bool
) -> None:
    stream = tgi_stream([*tokens, "</s>"], crlf=crlf)
    text, tail = run_text_stream(split_at(stream, cuts))
    assert text == "".join(tokens).lstrip()
    assert tail[-1] == FinishReason("stop")


def test_a_stream_without_its_final_event_says_how_many_tokens_arrived() -> None:
    stream = tgi_stream(["Once", " upon", " a"], final=False)
    with pytest.raises(StreamError, match="after 3 tokens") as caught:
        run_text_stream([stream])
    assert caught.value.partial_text == "Once upon a" and caught.value.tokens_received == 3


@pytest.mark.parametrize(
    "bad",
    [b"{not json", b"[DONE", b"null", b"[]", b'{"token": 5}', b'{"token":{"text":1}}'],
)
def test_a_malformed_event_is_our_error_with_the_text_so_far(bad: bytes) -> None:
    stream = tgi_stream(["A", "B"], final=False) + b"data:" + bad + b"\n\n"
    with pytest.raises(StreamError, match="after 2 tokens") as caught:
        run_text_stream([stream])
    assert caught.value.partial_text == "AB" and caught.value.tokens_received == 2


def test_done_marker_is_ignored() -> None:
    stream = tgi_stream(["A", "</s>"]) + b"data:[DONE]\n\n"
    text, tail = run_text_stream([stream])
    assert text == "A" and tail[-1] == FinishReason("stop")


@pytest.mark.parametrize(
    "error",
    [
        b'{"error":"Request failed during generation: CUDA OOM","error_type":"generation"}',
        b'{"error":{"message":"CUDA OOM","type":"generation"}}',
    ],
)
@pytest.mark.parametrize("first", [True, False])
def test_an_error_event_first_or_midway(error: bytes, first: bool) -> None:
    before = b"" if first else tgi_stream(["Hi", " there"], final=False)
    stream = before + b"data:" + error + b"\n\n" + tgi_stream(["never"])
    with pytest.raises(StreamError, match="CUDA OOM") as caught:
        run_text_stream([stream])
    assert caught.value.error_type == "generation"
    assert caught.value.partial_text == ("" if first else "Hi there")
    assert caught.value.tokens_received == (0 if first else 2)


TWO_IN_ONE = b"data:" + token_event("A") + b"," + token_event("B") + b"\n\n"


@pytest.mark.parametrize(
    "stream",
    [
        pytest.param(TWO_IN_ONE, id="alone"),
        pytest.param(tgi_stream(["x"], final=False) + TWO_IN_ONE, id="after-an-event"),
        pytest.param(TWO_IN_ONE + b"\n\n", id="before-a-blank-line"),
    ],
)
def test_one_data_line_with_two_objects_is_malformed(stream: bytes) -> None:
    with pytest.raises(StreamError, match="Malformed"):
        run_text_stream([stream])


@PROPERTY
@given(
    events=st.lists(
        st.sampled_from(
            [b'{"a":1}', b"[2]", b"3", b'{"a":1},{"b":2}', b"4,5", b"", b":c", b"[6],7"]
        ),
        min_size=1,
        max_size=6,
    )
)
@example(events=[b"4,5", b""])
def test_a_fast_path_batch_always_matches_its_events(events: list[bytes]) -> None:
    """When data_array's one-call decode is accepted (one value per counted event),
    the values are exactly those of decoding each event alone."""
    stream = b"".join(
        (b"\n\n" if e == b"" else e + b"\n\n" if e.startswith(b":") else b"data:" + e + b"\n\n")
        for e in events
    )
    complete = SSEParser().take(stream)
    batch = data_array(complete)
    if batch is None:
        return  # the slow path decodes event by event
    array, count = batch
    try:
        values = json.loads(array)
    except ValueError:
        return
    if len(values) != count:
        return
    alone = []
    for payload in payloads(complete):
        try:
            alone.append(json.loads(payload))
        except ValueError:
            pytest.fail(f"the batch was accepted, but event {payload!r} is not one JSON value")
    assert values == alone


@PROPERTY
@given(garbage=st.binary(max_size=400), cuts=st.lists(st.integers(0, 400), max_size=8))
def test_text_stream_fed_garbage_raises_only_our_errors(garbage: bytes, cuts: list[int]) -> None:
    try:
        text, _ = run_text_stream(split_at(garbage, cuts))
    except HFInferenceError:
        return
    assert isinstance(text, str)


@PROPERTY
@given(
    values=st.lists(
        JSON_VALUES
        | st.fixed_dictionaries({"token": JSON_VALUES})
        | st.fixed_dictionaries(
            {"token": st.fixed_dictionaries({"text": JSON_VALUES, "special": JSON_VALUES})},
            optional={"generated_text": JSON_VALUES, "details": JSON_VALUES, "error": JSON_VALUES},
        ),
        max_size=6,
    ),
    cuts=st.lists(st.integers(0, 800), max_size=8),
)
def test_text_stream_fed_odd_json_raises_only_our_errors(
    values: list[Any], cuts: list[int]
) -> None:
    stream = b"".join(b"data:" + json.dumps(v).encode() + b"\n\n" for v in values)
    with contextlib.suppress(HFInferenceError):
        run_text_stream(split_at(stream, cuts))


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"[" * 5000 + b"]" * 5000, id="deep-array"),
        pytest.param(b'{"token":' * 3000 + b"1" + b"}" * 3000, id="deep-object"),
        pytest.param(b'{"token":{"text":"\xff\xfe"}}', id="invalid-utf8-in-text"),
        pytest.param(b'{"token":{"text":"a"},"generated_text":"\xff"}', id="invalid-utf8-final"),
        pytest.param(b'{"token":{"text":"\\ud800"}}', id="lone-surrogate"),
        pytest.param(
            b'{"token":{"text":"a"},"details":{"finish_reason":' + b"9" * 5000 + b"}}",
            id="huge-number",
        ),
        pytest.param(b'{"error":null}', id="null-error"),
        pytest.param(b'{"error":{"no":"message"},"error_type":{"odd":1}}', id="odd-error"),
    ],
)
def test_text_stream_survives_hostile_events(data: bytes) -> None:
    stream = tgi_stream(["x"], final=False) + b"data:" + data + b"\n\n"
    for chunks in ([stream], [stream[:20], stream[20:]]):
        with contextlib.suppress(HFInferenceError):
            run_text_stream(chunks)


def test_an_event_that_never_ends_is_refused() -> None:
    parser = SSEParser(max_event_bytes=64)
    assert parser.take(b"data:" + b"x" * 50) == b""
    with pytest.raises(StreamError, match="past 64 bytes"):
        parser.take(b"x" * 50)
