"""hfinfer checks that are counts, not speeds.

- ``metadata``: Hub requests the server saw during hfinfer's first generation
  for each bench model, and during the repeats after it (classmethod calls and
  calls on one ``async with`` instance). Run twice with the same ``HF_HOME``,
  the second process shows what the disk cache saves.
- ``firstcall``: in a fresh process, ``from hfinfer import HuggingFaceInference``
  timed, the heavy modules it loaded (``aiohttp``, ``jinja2``, ...), then the first
  and second 8-token generations (the first pays the lazy imports, the session).
- ``template``: the time ``hfinfer.prompts.select.build_prompt`` and
  ``hfinfer.render_chat_template`` take to render a real chat template from
  ``tests/data/templates`` (Llama 3's and Llama 3.1's) with the compile cache
  warm (median µs per render), and the first render (the compile).

Each prints one JSON object. Run from the repository root:
``python -m bench.checks metadata --url http://127.0.0.1:PORT``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import workload
from bench.clients.harness import MESSAGES, server_stats

TEMPLATE_DIR = Path(__file__).resolve().parents[1] / "tests/data/templates"
#: Real chat templates from ``tests/data/templates``: Llama 3's short one (as the Hub's model
#: info serves it) and Llama 3.1's long one (tools, date, system-message handling).
TEMPLATES = (
    "hubapi.meta-llama-Meta-Llama-3-8B-Instruct.jinja",
    "llamacpp.meta-llama-Llama-3.1-8B-Instruct.jinja",
)
#: Modules whose import the provider's import should not pay for (``ssl`` itself comes
#: with asyncio; building aiohttp's SSL contexts is part of importing aiohttp).
HEAVY_MODULES = ("aiohttp", "multidict", "yarl", "jinja2")
SPECIAL_TOKENS = {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"}


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


async def _first_call(url: str) -> dict[str, Any]:
    from hfinfer import HuggingFaceInference

    times = []
    for _ in range(2):
        start = time.perf_counter()
        await _generate(HuggingFaceInference, url, workload.MODEL)
        times.append((time.perf_counter() - start) * 1000)
    return {"first_call_ms": times[0], "second_call_ms": times[1]}


def first_call(url: str) -> dict[str, Any]:
    """The provider's import and its first calls, in this (fresh) process."""
    before = set(sys.modules)
    start = time.perf_counter()
    from hfinfer import HuggingFaceInference  # noqa: F401

    import_ms = (time.perf_counter() - start) * 1000
    loaded = set(sys.modules) - before
    result: dict[str, Any] = {
        "import_ms": import_ms,
        "loaded_by_import": {name: name in loaded for name in HEAVY_MODULES},
        "modules_loaded": len(loaded),
    }
    result.update(asyncio.run(_first_call(url)))
    return result


def _median_us(call: Any, iterations: int, batches: int = 7) -> float:
    """Median over ``batches`` of the mean µs per call of ``iterations`` calls."""
    times = []
    for _ in range(batches):
        start = time.perf_counter()
        for _ in range(iterations):
            call()
        times.append((time.perf_counter() - start) / iterations * 1e6)
    return statistics.median(times)


def _template_row(name: str, iterations: int) -> dict[str, Any]:
    import hfinfer
    from hfinfer.prompts.select import build_prompt, template_from_model_data

    path = TEMPLATE_DIR / name
    if not path.exists():  # a real template or nothing: no inline stand-in
        raise SystemExit(f"template not found: {path}")
    source = path.read_text()
    model_data = {
        "config": {
            "model_type": "llama",
            "tokenizer_config": {"chat_template": source, **SPECIAL_TOKENS},
        }
    }
    info = template_from_model_data(model_data)
    start = time.perf_counter()
    prompt = build_prompt(MESSAGES, model_data, "llama")
    first_ms = (time.perf_counter() - start) * 1000

    def direct() -> str:
        return hfinfer.render_chat_template(
            source, MESSAGES, add_generation_prompt=True, special_tokens=SPECIAL_TOKENS
        )

    text = direct()
    if not prompt.source.startswith("chat_template") or prompt.text != text:
        raise SystemExit(f"{name}: build_prompt did not render the template ({prompt.source})")
    if MESSAGES[-1]["content"] not in text or not text.startswith("<|begin_of_text|>"):
        raise SystemExit(f"{name}: unexpected render {text[:200]!r}")
    return {
        "template_chars": len(source),
        "prompt_chars": len(text),
        "source": prompt.source,
        "first_render_ms": first_ms,
        "build_prompt_us": _median_us(
            lambda: build_prompt(MESSAGES, model_data, "llama"), iterations
        ),
        "build_prompt_with_template_info_us": _median_us(
            lambda: build_prompt(MESSAGES, model_data, "llama", template=info), iterations
        ),
        "render_chat_template_us": _median_us(direct, iterations),
    }


def template(iterations: int) -> dict[str, Any]:
    """First (compile) and cached render cost of real templates, both entry points."""
    start = time.perf_counter()
    import hfinfer

    import_ms = (time.perf_counter() - start) * 1000
    start = time.perf_counter()  # the sandbox environment, built once per process
    hfinfer.render_chat_template("{{ messages[0].content }}", MESSAGES)
    environment_ms = (time.perf_counter() - start) * 1000
    result: dict[str, Any] = {
        "available": True,
        "messages": len(MESSAGES),
        "iterations": iterations,
        "import_ms": import_ms,
        "environment_ms": environment_ms,
        "templates": {},
    }
    for name in TEMPLATES:
        result["templates"][name] = _template_row(name, iterations)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="check", required=True)
    meta = sub.add_parser("metadata")
    meta.add_argument("--url", required=True)
    meta.add_argument("--repeats", type=int, default=5)
    first = sub.add_parser("firstcall")
    first.add_argument("--url", required=True)
    tpl = sub.add_parser("template")
    tpl.add_argument("--iterations", type=int, default=500)
    args = parser.parse_args()
    if args.check == "metadata":
        result = asyncio.run(metadata(args.url, args.repeats))
    elif args.check == "firstcall":
        result = first_call(args.url)
    else:
        result = template(args.iterations)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
