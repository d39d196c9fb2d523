"""The streaming <think> splitter: pure, checked at every cut of the text."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hfinfer.reasoning import ThinkSplitter, template_opens_think
from hfinfer.types import Reasoning
from routerserver import load_tape

# DeepSeek-R1 on fireworks, recorded by huggingface.js: the answer text opens <think> itself.
R1_FIREWORKS = "ae9e11899907"
# The tail of DeepSeek-R1's chat template, which opens <think> in the generation prompt.
R1_TEMPLATE = (
    "{% if add_generation_prompt and not ns.is_tool %}{{'<｜Assistant｜><think>\\n'}}{% endif %}"
)


def split(pieces: list[str], *, start_inside: bool = False) -> tuple[str, str, list[object]]:
    splitter = ThinkSplitter(start_inside=start_inside)
    out: list[object] = []
    for piece in pieces:
        out.extend(splitter.feed(piece))
    out.extend(splitter.flush())
    answer = "".join(p for p in out if isinstance(p, str))
    reasoning = "".join(p.token or "" for p in out if isinstance(p, Reasoning))
    assert (answer, reasoning) == (splitter.answer, splitter.reasoning)
    return answer, reasoning, out


CASES = [
    # (text, start_inside, answer, reasoning)
    ("<think>\nLet me see.\n</think>\n\nParis.", False, "Paris.", "Let me see.\n"),
    ("Sure: <think>hmm</think> done", False, "Sure: done", "hmm"),
    (
        "plain answer with a < sign and </b> tags",
        False,
        "plain answer with a < sign and </b> tags",
        "",
    ),
    ("Let me see.\n</think>\n\nParis.", True, "Paris.", "Let me see.\n"),
    ("<think>\nLet me see.</think>Paris.", True, "Paris.", "Let me see."),
    ("cut before the end</thi", True, "", "cut before the end</thi"),
    ("reasoning leaked</think>\n\nanswer", False, "reasoning leakedanswer", ""),
    ("a<think>x</think>b<think>y</think>c", False, "abc", "xy"),
]


@pytest.mark.parametrize(("text", "inside", "answer", "reasoning"), CASES)
def test_whole_text(text: str, inside: bool, answer: str, reasoning: str) -> None:
    assert split([text], start_inside=inside)[:2] == (answer, reasoning)


@pytest.mark.parametrize(("text", "inside", "answer", "reasoning"), CASES)
def test_every_two_piece_cut_gives_the_same_split(
    text: str, inside: bool, answer: str, reasoning: str
) -> None:
    for cut in range(len(text) + 1):
        assert split([text[:cut], text[cut:]], start_inside=inside)[:2] == (answer, reasoning), cut


@settings(max_examples=200, deadline=None, database=None)
@given(st.data())
def test_any_chunking_gives_the_same_split(data: st.DataObject) -> None:
    text, inside, answer, reasoning = data.draw(st.sampled_from(CASES))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=8)))
    pieces = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
    assert split(pieces, start_inside=inside)[:2] == (answer, reasoning)


@settings(max_examples=100, deadline=None, database=None)
@given(
    st.text(alphabet="ab<>/thinkT \n", max_size=40),
    st.lists(st.integers(0, 40), max_size=6),
    st.booleans(),
)
def test_random_text_is_independent_of_chunking(text: str, cuts: list[int], inside: bool) -> None:
    bounds = sorted(c for c in cuts if c <= len(text))
    pieces = [text[a:b] for a, b in zip([0, *bounds], [*bounds, len(text)], strict=True)]
    assert split(pieces, start_inside=inside)[:2] == split([text], start_inside=inside)[:2]


def test_pieces_of_one_kind_are_merged_per_feed() -> None:
    splitter = ThinkSplitter()
    assert splitter.feed("<think>a") == [Reasoning("a")]
    assert splitter.feed("b</think>c") == [Reasoning("b"), "c"]


def test_recorded_r1_stream_token_by_token() -> None:
    body = load_tape(R1_FIREWORKS).body.decode()
    tokens = []
    for event in body.split("\n\n"):
        if event.startswith("data: {"):
            choices = json.loads(event[6:])["choices"]
            if choices and choices[0]["delta"].get("content"):
                tokens.append(choices[0]["delta"]["content"])
    raw = "".join(tokens)
    answer, reasoning, _ = split(tokens)
    assert answer == "This is a test. Let me know if you need anything else!"
    assert reasoning.startswith("Okay, let's see. The user said")
    assert "<think>" not in reasoning and "</think>" not in answer
    assert reasoning.strip() == raw[raw.index("<think>") + 7 : raw.index("</think>")].strip()
    # With the template's opener detected, the repeated "<think>" is dropped: same split.
    assert split(tokens, start_inside=True)[:2] == (answer, reasoning)


def test_server_separated_reasoning_turns_off_the_template_guess() -> None:
    splitter = ThinkSplitter(start_inside=True)
    splitter.server_separates_reasoning()
    assert splitter.feed("Paris.") == ["Paris."]


@pytest.mark.parametrize(
    ("template", "opens"),
    [
        (R1_TEMPLATE, True),
        (
            "{%- if add_generation_prompt %}"
            "{{- '<|im_start|>assistant\\n<think>\\n' }}{%- endif %}",
            True,
        ),
        (
            "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}"
            "{%- if enable_thinking is defined and enable_thinking is false %}"
            "{{- '<think>\\n\\n</think>\\n\\n' }}{%- endif %}{%- endif %}",
            False,
        ),
        ("{% if add_generation_prompt %}{{ '<|start_header_id|>assistant' }}{% endif %}", False),
        ("<think> is mentioned but there is no generation prompt", False),
        (
            [{"name": "default", "template": R1_TEMPLATE}, {"name": "tool_use", "template": ""}],
            True,
        ),
        (None, False),
    ],
)
def test_template_opens_think(template: object, opens: bool) -> None:
    assert template_opens_think(template) is opens
