"""The workload shared by the server and the clients: the model, its Hub metadata,
the tokens a generation streams, and the exact bytes of a TGI event stream.

Token ``i`` of every generation is ``VOCAB[i % len(VOCAB)]``, so a client can
check the text it received by its length alone.
"""

from __future__ import annotations

import json
from functools import lru_cache

MODEL = "bench-org/bench-model-8b"
#: A second model whose repo lists a tokenizer_config.json: hfinfer fetches it once.
MODEL_WITH_FILES = "bench-org/bench-model-files"

#: Typical tokens: leading spaces, punctuation, a newline, a quote, non-ASCII text.
VOCAB = [
    " The",
    " quick",
    " brown",
    " fox",
    " jumps",
    " over",
    " the",
    " lazy",
    " dog",
    ".",
    "\n",
    " It",
    " said",
    ' "',
    "hello",
    '"',
    " to",
    " the",
    " café",
    " —",
    " naïve",
    " 東京",
    " and",
    " 42",
    ",",
    " then",
    " left",
    "!",
]
EOS = "<|eot_id|>"


def token_text(index: int) -> str:
    return VOCAB[index % len(VOCAB)]


@lru_cache(maxsize=64)
def full_text(tokens: int) -> str:
    return "".join(token_text(i) for i in range(tokens))


@lru_cache(maxsize=64)
def valid_lengths(tokens: int) -> frozenset[int]:
    """Text lengths a correct client may report: as sent, or with the first token
    left-stripped (hfinfer and gpt4free strip it)."""
    text = full_text(tokens)
    return frozenset({len(text), len(text.lstrip())})


def model_info(model: str) -> dict:
    """The Hub's ``GET /api/models/{id}`` answer, trimmed to what clients read."""
    siblings = ["config.json", "generation_config.json", "model.safetensors"]
    if model == MODEL_WITH_FILES:
        siblings.append("tokenizer_config.json")
    return {
        "_id": "0" * 24,
        "id": model,
        "modelId": model,
        "author": model.split("/")[0],
        "private": False,
        "gated": False,
        "disabled": False,
        "pipeline_tag": "text-generation",
        "library_name": "transformers",
        "tags": ["transformers", "safetensors", "llama", "text-generation", "conversational"],
        "config": {
            "architectures": ["LlamaForCausalLM"],
            "model_type": "llama",
            "tokenizer_config": {"bos_token": "<|begin_of_text|>", "eos_token": EOS},
        },
        "siblings": [{"rfilename": name} for name in siblings],
    }


def tokenizer_config() -> dict:
    """``tokenizer_config.json`` of :data:`MODEL_WITH_FILES` (no template: family prompt)."""
    return {"bos_token": "<|begin_of_text|>", "eos_token": EOS, "model_max_length": 131072}


def _event(index: int, text: str, last: bool, tokens: int) -> bytes:
    token = {"id": 1000 + index % 30000, "text": text, "logprob": -0.25, "special": False}
    event = {
        "index": index + 1,
        "token": token,
        "generated_text": full_text(tokens) if last else None,
        "details": (
            {"finish_reason": "length", "generated_tokens": tokens, "seed": None} if last else None
        ),
    }
    data = json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()
    return b"data:" + data + b"\n\n"


def events(tokens: int) -> list[bytes]:
    """The SSE events of a generation of ``tokens`` tokens, as TGI writes them."""
    return [_event(i, token_text(i), i == tokens - 1, tokens) for i in range(tokens)]
