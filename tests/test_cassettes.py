"""Real recorded Hugging Face answers, replayed byte for byte through the local server."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from hfinfer import FinishReason, HuggingFaceInference, ImageResponse, Usage
from hfinfer.errors import ModelNotSupportedError, RateLimitError, ValidationError
from hfinfer.http.retry import RetryPolicy
from hfserver import FakeHF, Reply, load_cassette

ZEPHYR = "history/InferenceClientVCRTest.test_chat_completion_with_stream__2024-03-14_47b48670.yaml"
ZEPHYR_TEXT = (
    "Deep learning is a subfield of machine learning that uses artificial neural networks "
    "with multiple layers to learn and"
)
USER = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "What is deep learning?"},
]


def serve(hf: FakeHF, cassette: str, *, per_event_chunks: bool = False) -> list[Any]:
    """Script every recorded answer of a cassette at its path on the local server
    (the router's ``/hf-inference`` prefix is the inference base, so it is dropped)."""
    recorded = load_cassette(cassette)
    for item in recorded:
        path = item.path.removeprefix("/hf-inference")
        hf.script(item.method, path, item.reply(per_event_chunks=per_event_chunks))
    return recorded


async def collect(model: str, **kwargs: Any) -> list[Any]:
    return [c async for c in HuggingFaceInference.create_async_generator(model, USER, **kwargs)]


@pytest.mark.parametrize("per_event_chunks", [False, True], ids=["one-write", "chunk-per-event"])
async def test_zephyr_stream(hf: FakeHF, per_event_chunks: bool) -> None:
    serve(hf, ZEPHYR, per_event_chunks=per_event_chunks)
    chunks = await collect("HuggingFaceH4/zephyr-7b-beta")
    assert "".join(c for c in chunks if isinstance(c, str)) == ZEPHYR_TEXT
    assert chunks[-2:] == [Usage(prompt_tokens=None, completion_tokens=20), FinishReason("length")]
    # The recorded model info carries zephyr's own chat template: the prompt follows it.
    inputs = hf.last("POST", "/models/").json()["inputs"]
    assert inputs == (
        "<|system|>\nYou are a helpful assistant.</s>\n<|user|>\nWhat is deep learning?</s>\n"
        "<|assistant|>\n"
    )


async def test_gpt2_stream_through_a_hub_redirect(hf: FakeHF) -> None:
    info, generation = load_cassette("test_async_generate_stream_with_details.yaml")
    # The Hub answers the short id with a 307 to the canonical one, as it does live.
    hf.script(
        "GET",
        "/api/models/gpt2",
        Reply(
            307,
            {
                "location": "/api/models/openai-community/gpt2",
                "content-type": "text/plain; charset=utf-8",
            },
            b"Temporary Redirect. Redirecting to /api/models/openai-community/gpt2",
        ),
    )
    hf.script("GET", "/api/models/openai-community/gpt2", info.reply())
    hf.script("POST", "/models/gpt2", generation.reply())
    chunks = [
        c
        async for c in HuggingFaceInference.create_async_generator(
            "gpt2", [{"role": "user", "content": "Hello"}]
        )
    ]
    assert chunks == [".", Usage(prompt_tokens=1, completion_tokens=1), FinishReason("length")]
    sent = hf.last("POST", "/models/gpt2").json()
    assert sent["inputs"] == "Hello" and sent["parameters"]["max_new_tokens"] == 512


async def test_text2text_model_is_not_supported(hf: FakeHF) -> None:
    serve(hf, "TestTextGenerationClientVCR.test_generate_stream_with_details.yaml")
    with pytest.raises(ModelNotSupportedError, match="text2text-generation"):
        await collect("google/flan-t5-xxl")


async def test_non_streamed_answer_with_details(hf: FakeHF) -> None:
    info = load_cassette(ZEPHYR)[0]
    answer = load_cassette("TestTextGenerationClientVCR.test_generate_with_details.yaml")[1]
    hf.script("GET", info.path, info.reply())
    hf.script("POST", "/models/HuggingFaceH4/zephyr-7b-beta", answer.reply())
    chunks = await collect("HuggingFaceH4/zephyr-7b-beta", stream=False)
    # The recorded text is " " (one token): stripped, nothing is yielded for it.
    assert chunks == [Usage(prompt_tokens=None, completion_tokens=1), FinishReason("length")]


async def test_recorded_validation_error(hf: FakeHF) -> None:
    info = load_cassette(ZEPHYR)[0]
    rejection = load_cassette("TestTextGenerationClientVCR.test_generate_validation_error.yaml")[1]
    hf.script("GET", info.path, info.reply())
    path = "/models/HuggingFaceH4/zephyr-7b-beta"
    hf.script("POST", path, rejection.reply(), rejection.reply())
    with pytest.raises(ValidationError, match="must be <= 1512") as caught:
        await collect("HuggingFaceH4/zephyr-7b-beta", max_tokens=10000)
    assert caught.value.status == 422 and caught.value.error_type == "validation"
    # One clamped retry (1512 - 2 inputs tokens), then the server's word stands.
    posts = [r for r in hf.requests if r.method == "POST"]
    assert [p.json()["parameters"]["max_new_tokens"] for p in posts] == [10000, 1510]


async def test_recorded_rate_limit(hf: FakeHF) -> None:
    hf.add_text_model("org/m")
    limited = load_cassette(
        "history/InferenceApiTest.test_inference_missing_input__2024-04-09_79573f11.yaml"
    )[1]
    hf.script("POST", "/models/org/m", limited.reply())
    with pytest.raises(RateLimitError, match="Rate limit reached"):
        await collect("org/m", max_retries=0)


async def test_recorded_model_loading_is_waited_for(hf: FakeHF) -> None:
    hf.add_text_model("org/m")
    loading = next(
        r
        for r in load_cassette(
            "history/TestInferenceClient.test_text_classification"
            "[hf-inference,text-classification]__2025-02-05_29aa0011.yaml"
        )
        if r.status == 503
    )
    hf.script("POST", "/models/org/m", loading.reply())
    chunks = await collect("org/m", retry=RetryPolicy(max_retries=2, max_wait=0.05))
    assert "".join(c for c in chunks if isinstance(c, str)) == "Hello world!"
    first, second = [r for r in hf.requests if r.method == "POST"]
    assert "x-wait-for-model" not in first.headers
    assert second.headers["x-wait-for-model"] == "true"


async def test_recorded_text_to_image(hf: FakeHF) -> None:
    recorded = serve(
        hf, "TestInferenceClient.test_text_to_image_default[hf-inference,text-to-image].yaml"
    )
    jpeg = recorded[1].body
    chunks = [
        c
        async for c in HuggingFaceInference.create_async_generator(
            "CompVis/stable-diffusion-v1-4",
            [],
            prompt="An astronaut riding a horse on the moon.",
            seed=3,
        )
    ]
    (image,) = chunks
    assert isinstance(image, ImageResponse)
    assert image.data() == (jpeg, "image/jpeg")
    assert image.url == "data:image/jpeg;base64," + base64.b64encode(jpeg).decode()
    assert image.alt == "An astronaut riding a horse on the moon."
    assert hf.last("POST", "/models/").json() == {
        "inputs": "An astronaut riding a horse on the moon.",
        "parameters": {"seed": 3},
    }
