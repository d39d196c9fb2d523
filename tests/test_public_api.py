"""Guards the public names: people port code that imports them."""

from __future__ import annotations

import subprocess
import sys

import hfinfer
from hfinfer import errors


def test_every_public_name_resolves() -> None:
    for name in hfinfer.__all__:
        assert getattr(hfinfer, name) is not None, name
    assert sorted(hfinfer.__all__) == hfinfer.__all__


def test_seed_names_are_public() -> None:
    seed_names = {
        "HuggingFaceInference",
        "format_prompt",
        "format_prompt_mistral",
        "format_prompt_qwen",
        "format_prompt_qwen2",
        "format_prompt_llama",
        "format_prompt_custom",
        "get_inputs",
        "FinishReason",
        "ImageResponse",
        "Usage",
        "Reasoning",
        "render_chat_template",
    }
    assert seed_names <= set(hfinfer.__all__)


def test_error_tree() -> None:
    for name in errors.__all__:
        value = getattr(errors, name)
        if isinstance(value, type):
            assert issubclass(value, errors.HFInferenceError), name
    assert errors.MissingAuthError is errors.AuthenticationError
    assert issubclass(errors.TimeoutError, TimeoutError)
    assert issubclass(errors.StreamError, errors.ResponseError)


def test_import_is_light() -> None:
    # The HTTP stack and Jinja load on first use, not at `import hfinfer`.
    code = "import sys, hfinfer; print('aiohttp' in sys.modules, 'jinja2' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
