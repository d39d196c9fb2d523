"""hfinfer checks that are counts, not speeds.

- ``metadata``: Hub requests the server saw during hfinfer's first generation
  for each bench model, and during the repeats after it (classmethod calls and
  calls on one ``async with`` instance). Run twice with the same ``HF_HOME``,
  the second process shows what the disk cache saves.
- ``template``: the time ``hfinfer.prompts.select.build_prompt`` takes to render
  a chat template it has seen before (Llama 3's, from ``shared/data``).

Each prints one JSON object. Run from the repository root:
``python -m bench.checks metadata --url http://127.0.0.1:PORT``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from pathlib import Path
from typing import Any

from bench import workload
from bench.clients.harness import MESSAGES, server_stats

TEMPLATE_FILE = (
    Path(__file__).resolve().parents[2]
    / "shared/data/templates/hubapi.meta-llama-Meta-Llama-3-8B-Instruct.jinja"
)
FALLBACK_TEMPLATE = (
    "{% for message in messages %}{{ '<|start_header_id|>' + message['role'] + "
    "'<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}"
    "{% endif %}"
)


async def _generate(provider: Any, url: str, model: str) -> None:
    async for _ in provider.create_async_generator(model, MESSAGES, api_base=url, max_tokens=8):
        pass


async def metadata(url: str, repeats: int) -> dict[str, Any]:
    from hfinfer import HuggingFaceInference as hf_class

    result: dict[str, Any] = {"models": {}}
    async with hf_class() as instance:
        for model in (workload.MODEL, workload.MODEL_WITH_FILES):
            start = server_stats(url)["hub_requests"]
            await _generate(hf_class, url, model)
            first = server_stats(url)["hub_requests"]
            for _ in range(repeats):
                await _generate(hf_class, url, model)
                await _generate(instance, url, model)
            end = server_stats(url)["hub_requests"]
            result["models"][model] = {
                "first_call_hub_requests": first - start,
                "repeat_calls": 2 * repeats,
                "repeat_hub_requests": end - first,
            }
    return result


def template(iterations: int) -> dict[str, Any]:
    from hfinfer.prompts.select import build_prompt, template_from_model_data

    source = TEMPLATE_FILE.read_text() if TEMPLATE_FILE.exists() else FALLBACK_TEMPLATE
    model_data = {
        "config": {
            "model_type": "llama",
            "tokenizer_config": {
                "chat_template": source,
                "bos_token": "<|begin_of_text|>",
                "eos_token": "<|eot_id|>",
            },
        }
    }
    info = template_from_model_data(model_data)
    start = time.perf_counter()
    first = build_prompt(MESSAGES, model_data, "llama")
    first_ms = (time.perf_counter() - start) * 1000

    def per_call_us(**kwargs: Any) -> float:
        batches = []
        for _ in range(5):
            start = time.perf_counter()
            for _ in range(iterations):
                build_prompt(MESSAGES, model_data, "llama", **kwargs)
            batches.append((time.perf_counter() - start) / iterations * 1e6)
        return statistics.median(batches)

    return {
        "available": True,
        "template": TEMPLATE_FILE.name if TEMPLATE_FILE.exists() else "inline Llama-3 template",
        "source": first.source,
        "first_render_ms": first_ms,
        "cached_render_us": per_call_us(),
        "cached_render_with_template_info_us": per_call_us(template=info),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="check", required=True)
    meta = sub.add_parser("metadata")
    meta.add_argument("--url", required=True)
    meta.add_argument("--repeats", type=int, default=5)
    tpl = sub.add_parser("template")
    tpl.add_argument("--iterations", type=int, default=500)
    args = parser.parse_args()
    if args.check == "metadata":
        result = asyncio.run(metadata(args.url, args.repeats))
    else:
        result = template(args.iterations)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
