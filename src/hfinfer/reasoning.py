"""The streaming ``<think>`` splitter: answer text in, answer and :class:`Reasoning` out.

Reasoning models (DeepSeek-R1, QwQ, Qwen3...) write their reasoning between
``<think>`` and ``</think>`` inside the answer text when the server does not
separate it (shared/spec/protocols.md §6.8). Two quirks make a naive split
wrong: a tag can be cut across two stream chunks (``"<thi"`` + ``"nk>"``), and
a chat template can open ``<think>`` itself, so the stream starts inside the
reasoning and only ``</think>`` ever appears. :class:`ThinkSplitter` handles
both; :func:`template_opens_think` tells from a chat template whether it opens
the block. Pure: no I/O, imports only :mod:`hfinfer.types`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from .model_info import tokenizer_config
from .types import Reasoning

__all__ = ["CLOSE_TAG", "OPEN_TAG", "ThinkSplitter", "model_opens_think", "template_opens_think"]

OPEN_TAG = "<think>"
CLOSE_TAG = "</think>"

Piece = str | Reasoning
C = TypeVar("C")


def _partial_tag_length(text: str, tags: tuple[str, ...]) -> int:
    """Length of the longest end of ``text`` that is the start of one of ``tags``
    (that much must wait for the next chunk before it can be told apart)."""
    longest = 0
    for tag in tags:
        for size in range(min(len(tag) - 1, len(text)), longest, -1):
            if text.endswith(tag[:size]):
                longest = size
                break
    return longest


class ThinkSplitter:
    """Splits streamed answer text into ``str`` (answer) and :class:`Reasoning` pieces.

    ``start_inside=True`` when the prompt already opened ``<think>`` (see
    :func:`template_opens_think`); a ``<think>`` the model repeats at the
    very start is then dropped. Whitespace right after either tag is dropped,
    so neither the reasoning nor the answer starts with the blank lines that
    surround the block. A ``</think>`` with no opening tag is dropped too. The
    result does not depend on how the text was cut into chunks.

    >>> splitter = ThinkSplitter()
    >>> splitter.feed("<thi") + splitter.feed("nk>hmm</think>\\n\\nHi") + splitter.flush()
    [Reasoning(token='hmm', status=None), 'Hi']
    """

    __slots__ = ("_held", "_inside", "_skip_space", "_strip_opener", "answer", "reasoning")

    def __init__(self, *, start_inside: bool = False) -> None:
        self._inside = start_inside
        self._held = ""
        self._skip_space = start_inside
        self._strip_opener = start_inside
        #: Everything split off so far, joined: answer text and reasoning text.
        self.answer = ""
        self.reasoning = ""

    @property
    def inside(self) -> bool:
        """Whether the text being read is reasoning."""
        return self._inside

    def server_separates_reasoning(self) -> None:
        """The server sends reasoning in its own field (``reasoning_content``): the
        answer text then holds no reasoning, whatever the template opened."""
        if self._inside and not self.reasoning:
            self._inside = False
            self._strip_opener = False
            self._skip_space = False

    def split(self, pieces: Iterable[C]) -> list[C | Piece]:
        """Answer text (``str``) of a stream's pieces through :meth:`feed`; the rest as
        it is. A :class:`Reasoning` piece means the server separates reasoning."""
        out: list[C | Piece] = []
        for piece in pieces:
            if isinstance(piece, str):
                out.extend(self.feed(piece))
                continue
            if isinstance(piece, Reasoning):
                self.server_separates_reasoning()
            out.append(piece)
        return out

    def feed(self, text: str) -> list[Piece]:
        """The pieces ``text`` completes; a possible half tag at its end is held back."""
        out: list[Piece] = []
        if not self._held and not self._strip_opener and "<" not in text:
            self._emit(out, text)  # the common case: no tag can start here
            return out
        buffer = self._held + text
        self._held = ""
        if self._strip_opener:
            buffer = self._drop_repeated_opener(buffer)
            if self._strip_opener:  # undecided: all of it may be the start of "<think>"
                self._held = buffer
                return out
        while buffer:
            tags = (CLOSE_TAG,) if self._inside else (OPEN_TAG, CLOSE_TAG)
            found = [(buffer.find(tag), tag) for tag in tags]
            hits = [(index, tag) for index, tag in found if index >= 0]
            if not hits:
                keep = _partial_tag_length(buffer, tags)
                self._emit(out, buffer[: len(buffer) - keep])
                self._held = buffer[len(buffer) - keep :]
                break
            index, tag = min(hits)
            self._emit(out, buffer[:index])
            buffer = buffer[index + len(tag) :]
            if tag == OPEN_TAG or self._inside:
                self._inside = not self._inside
            # else: a stray "</think>" (the template opened the block unseen) is dropped.
            self._skip_space = True
        return out

    def flush(self) -> list[Piece]:
        """At the end of the stream: what was held back, as it is."""
        held, self._held = self._held, ""
        self._strip_opener = False
        out: list[Piece] = []
        self._emit(out, held)
        return out

    def _drop_repeated_opener(self, buffer: str) -> str:
        stripped = buffer.lstrip()
        if stripped.startswith(OPEN_TAG):
            self._strip_opener = False
            return stripped[len(OPEN_TAG) :]
        if not OPEN_TAG.startswith(stripped):
            self._strip_opener = False
        return buffer

    def _emit(self, out: list[Piece], text: str) -> None:
        if self._skip_space:
            text = text.lstrip()
            if not text:
                return
            self._skip_space = False
        if not text:
            return
        if self._inside:
            self.reasoning += text
            if out and isinstance(out[-1], Reasoning):
                out[-1] = Reasoning((out[-1].token or "") + text)
            else:
                out.append(Reasoning(text))
        else:
            self.answer += text
            if out and isinstance(out[-1], str):
                out[-1] += text
            else:
                out.append(text)


def template_opens_think(template: object) -> bool:
    """Whether a chat template's generation prompt leaves a ``<think>`` block open.

    Looks at the text after the template's last ``add_generation_prompt``: a
    ``<think>`` there without its ``</think>`` (DeepSeek-R1, QwQ) means the
    model's answer starts inside its reasoning; Qwen3's ``<think>\\n\\n</think>``
    (thinking turned off) does not. ``template`` may be a string or
    transformers' list of ``{"name", "template"}``; anything else gives False.
    """
    if isinstance(template, list):
        named = {t.get("name"): t.get("template") for t in template if isinstance(t, dict)}
        template = named.get("default") or next(iter(named.values()), None)
    if not isinstance(template, str):
        return False
    _, found, tail = template.rpartition("add_generation_prompt")
    if not found:
        return False
    return tail.count(OPEN_TAG) > tail.count(CLOSE_TAG)


def model_opens_think(model_info: Mapping[str, Any] | None) -> bool:
    """:func:`template_opens_think` of the template inline in the Hub's model info
    (``config.tokenizer_config.chat_template``); False when there is none."""
    return template_opens_think(tokenizer_config(model_info).get("chat_template"))
