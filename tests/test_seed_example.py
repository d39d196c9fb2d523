"""The seed document's usage example, pointed at the local server, runs as written
(inside an ``async def``, where its ``async for`` must live)."""

from __future__ import annotations

import pytest

from hfinfer import HuggingFaceInference, Messages
from hfserver import FakeHF


async def test_seed_usage_example_prints_text_and_an_image(
    hf: FakeHF, capsys: pytest.CaptureFixture[str]
) -> None:
    hf.add_text_model(
        "gpt2", tokens=[" The", " answer", " is", " 42."], model_type="gpt2", eos="<|endoftext|>"
    )
    hf.add_image_model("stabilityai/stable-diffusion-xl-base-1.0")

    # -- the seed's example, verbatim but for the import path --
    provider = HuggingFaceInference()
    messages: Messages = [
        {"role": "user", "content": "What is the meaning of life?"},
        {"role": "assistant", "content": "The meaning of life is 42."},
    ]
    async for chunk in provider.create_async_generator(model="gpt2", messages=messages):
        print(chunk)
    async for chunk in provider.create_async_generator(
        model="stabilityai/stable-diffusion-xl", messages=messages, stream=False
    ):
        print(chunk)
    # -- end of the example --

    out = capsys.readouterr().out
    text, _, image = out.partition("[![")
    assert text.replace("\n", "") == "The answer is 42."  # chunks as they arrived
    assert image.startswith("What is the meaning of life?](data:image/png;base64,")
    # gpt2 gets the generic prompt, ending with the generation cue.
    sent = hf.last("POST", "/models/gpt2").json()
    assert sent["inputs"] == (
        "User: What is the meaning of life?\nAssistant: The meaning of life is 42.\nAssistant:"
    )
    # The seed's image id is not a Hub repo; its alias names the real one.
    assert hf.count("POST", "/models/stabilityai/stable-diffusion-xl-base-1.0") == 1
