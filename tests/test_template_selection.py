"""Where the provider finds a model's chat template, and that it sends what it renders."""

from __future__ import annotations

import json
from typing import Any

import pytest

from hfinfer import HuggingFaceInference, TemplateError, get_inputs
from hfinfer.prompts.select import build_prompt
from hfserver import FakeHF

USER = [{"role": "user", "content": "Hi"}]
SIMPLE = (
    "{{ bos_token }}{% for m in messages %}<{{ m.role }}>{{ m.content }}{{ eos_token }}"
    "{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}"
)


async def generate(model: str, messages: list[dict[str, Any]] = USER, **kwargs: Any) -> str:
    chunks = [
        c async for c in HuggingFaceInference.create_async_generator(model, messages, **kwargs)
    ]
    return "".join(c for c in chunks if isinstance(c, str))


def sent_inputs(hf: FakeHF) -> str:
    return hf.last("POST", "/models/").json()["inputs"]


async def test_inline_template_with_added_token_objects(hf: FakeHF) -> None:
    info = hf.add_text_model("org/m", template=SIMPLE)
    info["config"]["tokenizer_config"].update(
        bos_token={"__type": "AddedToken", "content": "<s>"},
        eos_token={"__type": "AddedToken", "content": "</s>"},
    )
    await generate("org/m")
    assert sent_inputs(hf) == "<s><user>Hi</s><assistant>"
    assert hf.count("GET", "/org/m/resolve/main/") == 0  # siblings list no template file


async def test_chat_template_jinja_wins_over_inline(hf: FakeHF) -> None:
    hf.add_text_model(
        "org/m", template=SIMPLE, eos="</s>", siblings=["config.json", "chat_template.jinja"]
    )
    hf.files[("org/m", "chat_template.jinja")] = (
        "{% for m in messages %}[{{ m.role }}:{{ m.content }}]{% endfor %}"
        "{% if add_generation_prompt %}[assistant:{% endif %}"
    )
    await generate("org/m")
    assert sent_inputs(hf) == "[user:Hi][assistant:"


async def test_tokenizer_config_json_when_info_has_no_template(hf: FakeHF) -> None:
    hf.add_text_model("org/m", eos=None, siblings=["tokenizer_config.json"])
    hf.files[("org/m", "tokenizer_config.json")] = json.dumps(
        {"chat_template": SIMPLE, "bos_token": "<B>", "eos_token": {"content": "<E>"}}
    )
    for _ in range(3):
        await generate("org/m")
    assert sent_inputs(hf) == "<B><user>Hi<E><assistant>"
    # Fetched once, then cached like the metadata.
    assert hf.count("GET", "/org/m/resolve/main/tokenizer_config.json") == 1
    assert hf.count("GET", "/api/models/org/m") == 1


async def test_tokenizer_config_file_is_sent_with_the_token(hf: FakeHF) -> None:
    hf.add_text_model("org/m", eos=None, siblings=["tokenizer_config.json"])
    hf.files[("org/m", "tokenizer_config.json")] = json.dumps({"chat_template": SIMPLE})
    await generate("org/m", api_key="hf_abc")
    request = hf.last("GET", "/org/m/resolve/main/tokenizer_config.json")
    assert request.headers["authorization"] == "Bearer hf_abc"


async def test_named_templates_pick_default_or_tool_use(hf: FakeHF) -> None:
    named = [
        {"name": "default", "template": "{% for m in messages %}D:{{ m.content }}{% endfor %}"},
        {"name": "tool_use", "template": "T:{{ tools | length }}"},
    ]
    hf.add_text_model("org/m", template=named)  # type: ignore[arg-type]
    await generate("org/m")
    assert sent_inputs(hf) == "D:Hi"
    await generate("org/m", tools=[{"type": "function", "function": {"name": "f"}}])
    assert sent_inputs(hf) == "T:1"


async def test_no_template_anywhere_falls_back_to_family(hf: FakeHF) -> None:
    hf.add_text_model("org/m", eos="<|im_end|>", siblings=["tokenizer_config.json"])
    hf.files[("org/m", "tokenizer_config.json")] = json.dumps({"eos_token": "<|im_end|>"})
    await generate("org/m")
    assert sent_inputs(hf) == "<|im_start|>user\nHi\n<|im_end|>\n<|im_start|>assistant\n"


async def test_hub_failure_fetching_template_falls_back(hf: FakeHF) -> None:
    from hfserver import Reply

    hf.add_text_model("org/m", eos="<|im_end|>", siblings=["tokenizer_config.json"])
    hf.script("GET", "/org/m/resolve/main/tokenizer_config.json", Reply(500, {}, b"oops"))
    assert await generate("org/m", max_retries=0) == "Hello world!"
    assert sent_inputs(hf).startswith("<|im_start|>user")


async def test_continue_maps_to_continue_final_message(hf: FakeHF) -> None:
    hf.add_text_model("org/m", template=SIMPLE, eos="</s>")
    messages = [*USER, {"role": "assistant", "content": "Hel"}]
    await generate("org/m", messages, action="continue")
    assert sent_inputs(hf) == "<user>Hi</s><assistant>Hel"


async def test_template_that_raises_quotes_its_message(hf: FakeHF) -> None:
    strict = (
        "{% for m in messages %}{% if m.role == 'system' %}"
        "{{ raise_exception('System role not supported') }}{% endif %}{{ m.content }}{% endfor %}"
    )
    hf.add_text_model("org/m", template=strict)
    with pytest.raises(TemplateError, match="System role not supported"):
        await generate("org/m", [{"role": "system", "content": "S"}, *USER])
    assert hf.count("POST", "/models/") == 0


def test_get_inputs_uses_an_inline_template() -> None:
    model_data = {"config": {"tokenizer_config": {"chat_template": SIMPLE, "eos_token": "</s>"}}}
    assert get_inputs(USER, model_data, "llama") == "<user>Hi</s><assistant>"
    built = build_prompt(USER, model_data, "llama")
    assert built.source == "chat_template (model info)"
    assert build_prompt(USER, {}, "gpt2").source == "family: generic"
