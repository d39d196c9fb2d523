"""The seed's prompt functions, with the outputs the spec pins (its acceptance examples)."""

from __future__ import annotations

import pytest

from hfinfer import (
    format_prompt,
    format_prompt_custom,
    format_prompt_llama,
    format_prompt_mistral,
    format_prompt_qwen,
    format_prompt_qwen2,
    get_inputs,
)
from hfinfer.prompts.families import pick_family

FRANCE = [
    {"role": "user", "content": "What is the capital of France?"},
    {"role": "assistant", "content": "The capital of France is Paris."},
]
LIFE = [
    {"role": "user", "content": "What is the meaning of life?"},
    {"role": "assistant", "content": "The meaning of life is 42."},
]


def test_mistral_seed_example() -> None:
    assert format_prompt_mistral(FRANCE) == (
        "<s>[INST]What is the capital of France? [/INST] The capital of France is Paris.</s>"
    )


def test_mistral_ending_on_user_appends_question_with_system() -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        *FRANCE,
        {"role": "user", "content": "And Italy?"},
    ]
    assert format_prompt_mistral(messages) == (
        "<s>[INST]What is the capital of France? [/INST] The capital of France is Paris.</s>\n"
        "<s>[INST] And Italy? Be brief. [/INST]"
    )
    assert format_prompt_mistral([{"role": "user", "content": "Hi"}]) == "<s>[INST] Hi [/INST]"


def test_mistral_continue_drops_final_end() -> None:
    assert format_prompt_mistral(FRANCE, do_continue=True).endswith("is Paris.")


def test_qwen_seed_example_and_continue() -> None:
    expected = (
        "<|im_start|>user\nWhat is the meaning of life?\n<|im_end|>\n"
        "<|im_start|>assistant\nThe meaning of life is 42.\n<|im_end|>\n<|im_start|>assistant\n"
    )
    assert format_prompt_qwen(LIFE) == expected
    assert format_prompt_qwen(LIFE, do_continue=True) == (
        "<|im_start|>user\nWhat is the meaning of life?\n<|im_end|>\n"
        "<|im_start|>assistant\nThe meaning of life is 42."
    )


def test_qwen2_keeps_the_u2581_in_end_of_sentence() -> None:
    # The seed's own example lost the "▁" (U+2581); the spec's format keeps it.
    expected = (
        "<｜User｜>What is the capital of France?<｜end▁of▁sentence｜>"
        "<｜Assistant｜>The capital of France is Paris.<｜end▁of▁sentence｜><｜Assistant｜>"
    )
    assert format_prompt_qwen2(FRANCE) == expected
    assert format_prompt_qwen2(FRANCE, do_continue=True) == (
        "<｜User｜>What is the capital of France?<｜end▁of▁sentence｜>"
        "<｜Assistant｜>The capital of France is Paris."
    )


def test_llama_seed_example_and_continue() -> None:
    messages = [
        {"role": "user", "content": "What is the weather like today?"},
        {"role": "assistant", "content": "The weather is sunny and warm."},
    ]
    assert format_prompt_llama(messages) == (
        "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n"
        "What is the weather like today?\n<|eot_id|>\n"
        "<|start_header_id|>assistant<|end_header_id|>\n\nThe weather is sunny and warm.\n"
        "<|eot_id|>\n<|start_header_id|>assistant<|end_header_id|>\n\n"
    )
    assert format_prompt_llama(messages, do_continue=True).endswith("sunny and warm.")


def test_custom_seed_example_and_continue() -> None:
    messages = [
        {"role": "user", "content": "What is the capital of Italy?"},
        {"role": "assistant", "content": "The capital of Italy is Rome."},
    ]
    assert format_prompt_custom(messages, end_token="</s>") == (
        "<|user|>\nWhat is the capital of Italy?</s>\n<|assistant|>\n"
        "The capital of Italy is Rome.</s>\n<|assistant|>\n"
    )
    assert format_prompt_custom(messages, "<|endoftext|>", do_continue=True) == (
        "<|user|>\nWhat is the capital of Italy?<|endoftext|>\n<|assistant|>\n"
        "The capital of Italy is Rome."
    )


def test_get_inputs_seed_example_uses_generic_format_for_gpt2() -> None:
    # The seed's example shows the custom format, but its own rule sends gpt2 to the
    # generic formatter; the spec follows the rule.
    messages = [
        {"role": "user", "content": "What is the population of London?"},
        {"role": "assistant", "content": "The population of London is approximately 9 million."},
    ]
    model_data = {"config": {"tokenizer_config": {"eos_token": "</s>"}}}
    assert get_inputs(messages, model_data, model_type="gpt2") == (
        "User: What is the population of London?\n"
        "Assistant: The population of London is approximately 9 million.\nAssistant:"
    )
    assert get_inputs(messages, model_data, "gpt2", do_continue=True).endswith("9 million.")
    assert get_inputs(messages[:1], model_data, "gpt2") == "What is the population of London?"


@pytest.mark.parametrize(
    ("model_type", "author", "eos", "family"),
    [
        ("gpt2", None, "</s>", "generic"),
        ("gemma2", None, "<eos>", "generic"),
        ("mistral", "mistralai", "</s>", "mistral"),
        ("mistral", "HuggingFaceH4", "</s>", "custom"),
        ("t5", None, "<eos>", "custom"),
        ("phi3", None, "<|endoftext|>", "custom"),
        ("qwen2", None, "<|im_end|>", "qwen"),
        ("llama", None, "<|eot_id|>", "llama"),
        ("qwen2", None, "<｜end▁of▁sentence｜>", "qwen2"),
        ("llama", None, {"__type": "AddedToken", "content": "<｜end▁of▁sentence｜>"}, "qwen2"),
        ("llama", None, {"__type": "AddedToken", "content": "<|eot_id|>"}, "llama"),
        ("llama", None, "<|end|>", "generic"),
        ("llama", None, None, "generic"),
    ],
)
def test_family_rules(model_type: str, author: str | None, eos: object, family: str) -> None:
    tokenizer_config = {} if eos is None else {"eos_token": eos}
    model_data = {"author": author, "config": {"tokenizer_config": tokenizer_config}}
    assert pick_family(model_data, model_type) == family


def test_added_token_dict_renders_its_content() -> None:
    model_data = {
        "config": {"tokenizer_config": {"eos_token": {"content": "</s>", "lstrip": False}}}
    }
    assert get_inputs(FRANCE, model_data, "t5") == format_prompt_custom(FRANCE, "</s>")


def test_content_parts_are_joined() -> None:
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "a"},
                {"type": "image_url", "image_url": {"url": "x"}},
                {"type": "text", "text": "b"},
            ],
        }
    ]
    assert format_prompt(messages) == "a\nb"
