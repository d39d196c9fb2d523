"""The seed's prompt formatters: guesses of a model's format from its family.

These are the fallback when a model's own chat template cannot be had
(``prompts.select`` tries the template first). Their outputs are pinned by
``shared/spec/provider.md``; keep them byte-for-byte.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..model_info import tokenizer_config
from ..types import content_text

__all__ = [
    "DEEPSEEK_EOS",
    "format_prompt",
    "format_prompt_custom",
    "format_prompt_llama",
    "format_prompt_mistral",
    "format_prompt_qwen",
    "format_prompt_qwen2",
    "pick_family",
    "token_text",
]

DEEPSEEK_EOS = "<｜end▁of▁sentence｜>"

_Messages = Sequence[Mapping[str, Any]]


def _text(message: Mapping[str, Any]) -> str:
    return content_text(message.get("content"))


def format_prompt(messages: _Messages, do_continue: bool = False) -> str:
    """Generic "Role: text" lines; a single message is sent as its text alone."""
    if len(messages) == 1:
        return _text(messages[0])
    lines = "\n".join(f"{str(m['role']).capitalize()}: {_text(m)}" for m in messages)
    return lines if do_continue else f"{lines}\nAssistant:"


def format_prompt_mistral(messages: _Messages, do_continue: bool = False) -> str:
    """Mistral's ``[INST]`` format as the seed writes it (see the spec for its shape)."""
    history = "\n".join(
        f"<s>[INST]{_text(messages[index - 1]) if index else ''} [/INST] {_text(message)}</s>"
        for index, message in enumerate(messages)
        if message["role"] == "assistant"
    )
    if messages and messages[-1]["role"] == "assistant":
        prompt = history
    else:
        system = [_text(m) for m in messages if m["role"] == "system"]
        question = " ".join([_text(messages[-1]) if messages else "", *system])
        turn = f"<s>[INST] {question} [/INST]"
        prompt = f"{history}\n{turn}" if history else turn
    if do_continue and prompt.endswith("</s>"):
        return prompt[: -len("</s>")]
    return prompt


def _join_and_continue(
    turns: list[str], generation_prompt: str, do_continue: bool, turn_end: str
) -> str:
    prompt = "".join(turns)
    if not do_continue:
        return prompt + generation_prompt
    # Continuing ends the prompt inside the last message: drop its end marker.
    return prompt[: -len(turn_end)] if turn_end and prompt.endswith(turn_end) else prompt


def format_prompt_qwen(messages: _Messages, do_continue: bool = False) -> str:
    """ChatML, with the seed's newline before ``<|im_end|>``."""
    turns = [f"<|im_start|>{m['role']}\n{_text(m)}\n<|im_end|>\n" for m in messages]
    return _join_and_continue(turns, "<|im_start|>assistant\n", do_continue, "\n<|im_end|>\n")


def format_prompt_qwen2(messages: _Messages, do_continue: bool = False) -> str:
    """DeepSeek's full-width markers (the seed calls it qwen2)."""
    turns = [f"<｜{str(m['role']).capitalize()}｜>{_text(m)}{DEEPSEEK_EOS}" for m in messages]
    return _join_and_continue(turns, "<｜Assistant｜>", do_continue, DEEPSEEK_EOS)


def format_prompt_llama(messages: _Messages, do_continue: bool = False) -> str:
    """Llama 3 headers, with the seed's newline before ``<|eot_id|>``."""
    turns = ["<|begin_of_text|>"] + [
        f"<|start_header_id|>{m['role']}<|end_header_id|>\n\n{_text(m)}\n<|eot_id|>\n"
        for m in messages
    ]
    return _join_and_continue(
        turns, "<|start_header_id|>assistant<|end_header_id|>\n\n", do_continue, "\n<|eot_id|>\n"
    )


def format_prompt_custom(
    messages: _Messages, end_token: str = "</s>", do_continue: bool = False
) -> str:
    """Zephyr-like ``<|role|>`` turns closed by the model's end token."""
    turns = [f"<|{m['role']}|>\n{_text(m)}{end_token}\n" for m in messages]
    return _join_and_continue(turns, "<|assistant|>\n", do_continue, end_token + "\n")


def token_text(token: Any) -> str | None:
    """A special token's text, whether given as a string or as an AddedToken dict."""
    if isinstance(token, str):
        return token
    if isinstance(token, Mapping):
        content = token.get("content")
        return content if isinstance(content, str) else None
    return None


def pick_family(model_data: Mapping[str, Any] | None, model_type: str | None) -> str:
    """Name the fallback formatter the seed's rules choose for a model.

    One of ``generic``, ``mistral``, ``custom``, ``qwen``, ``qwen2``, ``llama``.
    """
    if model_type in ("gpt2", "gpt_neo", "gemma", "gemma2"):
        return "generic"
    if model_type == "mistral" and (model_data or {}).get("author") == "mistralai":
        return "mistral"
    eos = token_text(tokenizer_config(model_data).get("eos_token"))
    if eos in ("<|endoftext|>", "<eos>", "</s>"):
        return "custom"
    return {"<|im_end|>": "qwen", DEEPSEEK_EOS: "qwen2", "<|eot_id|>": "llama"}.get(
        eos or "", "generic"
    )


def format_with_family(
    family: str, messages: _Messages, model_data: Mapping[str, Any] | None, do_continue: bool
) -> str:
    """Render ``messages`` with the named fallback formatter."""
    if family == "custom":
        eos = token_text(tokenizer_config(model_data).get("eos_token")) or "</s>"
        return format_prompt_custom(messages, eos, do_continue)
    formatter = {
        "mistral": format_prompt_mistral,
        "qwen": format_prompt_qwen,
        "qwen2": format_prompt_qwen2,
        "llama": format_prompt_llama,
    }.get(family, format_prompt)
    return formatter(messages, do_continue)
