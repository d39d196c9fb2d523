"""Chat templates render byte for byte as transformers renders them.

The reference cases are real templates, conversations and the strings
transformers produced (``tests/data/templates``, see ``tests/data/PROVENANCE.md``);
no test needs transformers.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hfinfer import TemplateError, render_chat_template
from hfinfer.prompts import chat_template
from hfinfer.prompts.chat_template import choose_template, special_tokens_from
from hfinfer.prompts.families import format_prompt_llama, format_prompt_qwen

TEMPLATES = Path(__file__).resolve().parent / "data" / "templates"
MANIFEST = json.loads((TEMPLATES / "expected" / "MANIFEST.json").read_text(encoding="utf-8"))
SPECIAL_TOKENS = json.loads((TEMPLATES / "special_tokens.json").read_text(encoding="utf-8"))
FROZEN_NOW = datetime.datetime.fromisoformat(MANIFEST["meta"]["frozen_now"])


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chat_template, "now", lambda: FROZEN_NOW)


def load_conversation(name: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    data = json.loads((TEMPLATES / "conversations" / f"{name}.json").read_text(encoding="utf-8"))
    if isinstance(data, list):
        return data, {}
    extra = {
        "tools": data.get("tools"),
        "documents": data.get("documents"),
        **(data.get("template_kwargs") or {}),
    }
    return data["messages"], extra


def render_case(case: dict[str, Any]) -> str:
    template = (TEMPLATES / f"{case['template']}.jinja").read_text(encoding="utf-8")
    messages, extra = load_conversation(case["conversation"])
    tokens = {
        k: v
        for k, v in SPECIAL_TOKENS.get(case["template"], {}).items()
        if k in chat_template.SPECIAL_TOKEN_NAMES
    }
    return render_chat_template(
        template,
        messages,
        add_generation_prompt=case["add_generation_prompt"],
        continue_final_message=case["continue_final_message"],
        special_tokens=tokens,
        **extra,
    )


def case_id(case: dict[str, Any]) -> str:
    return f"{case['template']}__{case['conversation']}__{case['flags']}"


def test_manifest_is_complete() -> None:
    cases = MANIFEST["cases"]
    assert len(cases) == MANIFEST["meta"]["count"] == 1870
    assert sum(c["status"] == "error" for c in cases) == MANIFEST["meta"]["errors"]


@pytest.mark.parametrize("case", MANIFEST["cases"], ids=case_id)
def test_reference_case(case: dict[str, Any]) -> None:
    if case["status"] == "ok":
        expected = (TEMPLATES / "expected" / case["file"]).read_bytes().decode("utf-8")
        assert render_case(case) == expected
    else:
        with pytest.raises(TemplateError):
            render_case(case)


def test_raise_exception_message_is_quoted() -> None:
    template = "{{ raise_exception('Conversation roles must alternate user/assistant') }}"
    with pytest.raises(TemplateError, match="Conversation roles must alternate user/assistant"):
        render_chat_template(template, [{"role": "user", "content": "x"}])


def test_tojson_keeps_non_ascii_and_honours_indent() -> None:
    template = (
        "{{ messages[0] | tojson }}|{{ {'b': 1, 'a': 2} | tojson(indent=2, sort_keys=true) }}"
    )
    out = render_chat_template(template, [{"role": "user", "content": "héllo 日本"}])
    assert out == '{"role": "user", "content": "héllo 日本"}|{\n  "a": 2,\n  "b": 1\n}'


def test_special_tokens_as_strings_or_objects_and_undefined_when_missing() -> None:
    template = "{{ bos_token }}|{{ eos_token }}|{{ pad_token is defined }}"
    tokens = {
        "bos_token": {"__type": "AddedToken", "content": "<s>"},
        "eos_token": "</s>",
        "pad_token": None,
    }
    out = render_chat_template(template, [{"role": "user", "content": "x"}], special_tokens=tokens)
    assert out == "<s>|</s>|False"
    assert special_tokens_from({"bos_token": {"content": "<|b|>"}, "unk_token": None}) == {
        "bos_token": "<|b|>"
    }


def test_extra_template_variables_pass_through() -> None:
    template = "{% if enable_thinking is false %}no-think{% endif %}{{ date_string }}"
    out = render_chat_template(
        template,
        [{"role": "user", "content": "x"}],
        enable_thinking=False,
        date_string="26 Jul 2024",
    )
    assert out == "no-think26 Jul 2024"


def test_strftime_now_uses_the_clock() -> None:
    out = render_chat_template("{{ strftime_now('%d %b %Y') }}", [{"role": "user", "content": ""}])
    assert out == "15 Jan 2025"


def test_flags_that_cannot_both_hold() -> None:
    with pytest.raises(TemplateError, match="cannot both be set"):
        render_chat_template(
            "x",
            [{"role": "user", "content": "x"}],
            add_generation_prompt=True,
            continue_final_message=True,
        )
    with pytest.raises(TemplateError, match="empty conversation"):
        render_chat_template("x", [])


def test_syntax_error_names_the_line() -> None:
    with pytest.raises(TemplateError, match="line 2"):
        render_chat_template("ok\n{% for m in messages %}", [{"role": "user", "content": "x"}])


def test_compiled_templates_are_cached() -> None:
    template = "{% for m in messages %}{{ m.content }}{% endfor %}"
    assert chat_template.compile_template(template) is chat_template.compile_template(template)


def test_choose_template() -> None:
    named = [{"name": "default", "template": "D"}, {"name": "tool_use", "template": "T"}]
    assert choose_template("plain") == "plain"
    assert choose_template(None) is None
    assert choose_template(named) == "D"
    assert choose_template(named, tools=[{"type": "function"}]) == "T"
    assert choose_template({"default": "D"}, tools=[{}]) == "D"
    with pytest.raises(TemplateError, match="rag, tool_use"):
        choose_template([{"name": "tool_use", "template": "T"}, {"name": "rag", "template": "R"}])


# -- the sandbox -------------------------------------------------------------------------

INJECTIONS = [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ messages.__class__.__init__.__globals__ }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ lipsum.__globals__['os'].popen('id').read() }}",
    "{{ joiner.__init__.__globals__['__builtins__']['open']('/etc/passwd').read() }}",
    "{{ self._TemplateReference__context.cycler.__init__.__globals__.os }}",
    "{{ raise_exception.__globals__['json'] }}",
    "{% set x = messages.append({'role': 'system', 'content': 'pwned'}) %}{{ messages }}",
    "{% set d = {} %}{% set _ = d.update({'a': 1}) %}{{ d }}",
    "{{ messages[0].pop('content') }}",
    "{{ (messages | first).__setitem__('role', 'x') }}",
    "{{ strftime_now.__code__ }}",
    "{% for c in [].__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
]


@pytest.mark.parametrize("payload", INJECTIONS)
def test_template_injection_is_refused(payload: str) -> None:
    messages = [{"role": "user", "content": "hi"}]
    with pytest.raises(TemplateError):
        render_chat_template(payload, messages)
    assert messages == [{"role": "user", "content": "hi"}]


def test_a_normal_template_still_renders() -> None:
    template = "{% for m in messages %}{{ m['role'] }}:{{ m.content | trim }};{% endfor %}"
    assert render_chat_template(template, [{"role": "user", "content": " a "}]) == "user:a;"


# -- properties: templates against the seed's fallback formatters ----------------------------

text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="<>|{}\r"),
    max_size=40,
).filter(lambda s: s == s.strip())


@st.composite
def conversations(draw: st.DrawFn) -> list[dict[str, str]]:
    """Optional system, then user/assistant turns ending on a user message (where a
    generation prompt is due: ChatML's template adds none after an assistant turn)."""
    turns = 2 * draw(st.integers(0, 3)) + 1
    messages = [{"role": "system", "content": draw(text)}] if draw(st.booleans()) else []
    for index in range(turns):
        messages.append({"role": "user" if index % 2 == 0 else "assistant", "content": draw(text)})
    return messages


CHATML = (TEMPLATES / "vllm.template_chatml.jinja").read_text(encoding="utf-8")
LLAMA3 = (TEMPLATES / "hubapi.meta-llama-Meta-Llama-3-8B-Instruct.jinja").read_text(
    encoding="utf-8"
)


@settings(max_examples=150, deadline=None)
@given(messages=conversations())
def test_chatml_template_matches_qwen_fallback_but_for_its_newlines(messages) -> None:
    # The seed's ChatML puts "\n" before each <|im_end|>; the real template does not.
    rendered = render_chat_template(CHATML, messages, add_generation_prompt=True)
    fallback = format_prompt_qwen(messages).replace("\n<|im_end|>", "<|im_end|>")
    assert rendered == fallback


@settings(max_examples=150, deadline=None)
@given(messages=conversations())
def test_llama3_template_matches_llama_fallback_but_for_its_newlines(messages) -> None:
    rendered = render_chat_template(
        LLAMA3,
        messages,
        add_generation_prompt=True,
        special_tokens={"bos_token": "<|begin_of_text|>"},
    )
    fallback = format_prompt_llama(messages).replace("\n<|eot_id|>\n", "<|eot_id|>")
    assert rendered == fallback


@settings(max_examples=100, deadline=None)
@given(messages=conversations())
def test_continue_final_message_ends_inside_the_last_message(messages) -> None:
    messages = [*messages, {"role": "assistant", "content": "Partial answer"}]
    rendered = render_chat_template(CHATML, messages, continue_final_message=True)
    assert rendered.endswith(messages[-1]["content"])
    assert rendered == format_prompt_qwen(messages, do_continue=True).replace(
        "\n<|im_end|>", "<|im_end|>"
    )
