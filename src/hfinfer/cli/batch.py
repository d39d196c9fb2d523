"""``hfinfer batch run``: a batch of requests, resumable, with a progress line on stderr.

Exit codes: 0 every request answered, 1 an error (or some rows failed: see the
errors file), 2 a usage error, 3 stopped early (402 or --max-cost; rerun the
same command to resume), 130 interrupted.
"""

from __future__ import annotations

import asyncio
import shlex
import sys
from typing import Any

import click

from .common import api_key_option, err, require_token

__all__ = ["batch"]

EXIT_STOPPED = 3


@click.group("batch", epilog="""\b
Examples:
  hfinfer batch run -i prompts.jsonl -o answers.jsonl -m Qwen/Qwen2.5-7B-Instruct
""")
def batch() -> None:
    """Run batches of requests (OpenAI's batch JSONL, Parquet, Hub datasets)."""


@batch.command("run", epilog="""\b
Examples:
  hfinfer batch run -i prompts.jsonl -o answers.jsonl -m Qwen/Qwen2.5-7B-Instruct
""")
@click.option("-i", "--input", "input_path", default=None,
              help="JSONL (OpenAI batch lines or shorthand), Parquet, or hf://datasets/...")
@click.option("-o", "--output", required=True, help="Results JSONL (or .parquet table).")
@click.option("--dataset", default=None, help="A Hub dataset (owner/name) instead of -i.")
@click.option("--split", default="train", show_default=True)
@click.option("--config", "dataset_config", default="default", show_default=True)
@click.option("--model", "-m", default=None, help="Model for lines that name none.")
@click.option("--provider", default=None, help="Router provider or policy.")
@click.option("--concurrency", type=click.IntRange(min=1), default=16, show_default=True)
@click.option("--rpm", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Requests per minute at most.")
@click.option("--tpm", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Tokens per minute at most (estimated before, corrected after).")
@click.option("--max-cost", type=click.FloatRange(min=0), default=None,
              help="Stop when the estimated cost (USD) reaches this.")
@click.option("--dry-run", is_flag=True, help="Count and estimate; send nothing.")
@click.option("--limit", type=click.IntRange(min=0), default=None,
              help="Send at most N requests this run.")
@click.option("--restart", is_flag=True, help="Forget the output and state; start over.")
@click.option("--retry-failed", is_flag=True, help="Send the rows that failed before again.")
@click.option("--prompt-column", default=None)
@click.option("--messages-column", default=None)
@click.option("--id-column", default=None)
@click.option("--template", default=None, help="Prompt from columns: 'Label: {text}'.")
@click.option("--system", "-s", default=None, help="A system message before each row's.")
@click.option("--max-tokens", type=click.IntRange(min=1), default=None)
@click.option("--temperature", "-t", type=float, default=None)
@click.option("--output-format", type=click.Choice(["jsonl", "parquet"]), default="jsonl",
              show_default=True)
@click.option("--max-attempts", type=click.IntRange(min=1), default=6, show_default=True)
@api_key_option
@click.option("--api-base", default=None, help="A text-generation server instead of the router.")
def run_command(**args: Any) -> None:  # fmt: skip
    """Send every request of INPUT, resumably: rerun the same command to resume."""
    from ..errors import HFInferenceError

    if not args["dry_run"]:
        route = "tgi" if args["api_base"] else "router"
        require_token(args["api_key"], route, args["api_base"], args["model"] or "")
    try:
        code = asyncio.run(_main(args))
    except HFInferenceError as exc:
        err(f"error: {exc}")
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        err("interrupted: rerun the same command to resume")
        raise SystemExit(130) from None
    raise SystemExit(code)


def _config(args: dict[str, Any]) -> Any:
    from ..batch import BatchConfig, RequestDefaults, RetryRules

    if args["input_path"] is None and args["dataset"] is None:
        raise click.UsageError("give -i INPUT or --dataset NAME")
    options = {"max_tokens": args["max_tokens"], "temperature": args["temperature"]}
    defaults = RequestDefaults(
        model=args["model"], options={k: v for k, v in options.items() if v is not None},
        system=args["system"], template=args["template"], prompt_column=args["prompt_column"],
        messages_column=args["messages_column"], id_column=args["id_column"],
    )  # fmt: skip
    return BatchConfig(
        output=args["output"], input=args["input_path"], dataset=args["dataset"],
        split=args["split"], config=args["dataset_config"], defaults=defaults,
        provider=args["provider"], concurrency=args["concurrency"], rpm=args["rpm"],
        tpm=args["tpm"], max_cost=args["max_cost"], limit=args["limit"],
        restart=args["restart"] and not args["dry_run"], retry_failed=args["retry_failed"],
        output_format=args["output_format"], rules=RetryRules(max_attempts=args["max_attempts"]),
    )  # fmt: skip


async def _main(args: dict[str, Any]) -> int:
    from dataclasses import asdict

    from ..batch import BatchStopped, Progress, plan, print_progress, run
    from ..client import AsyncClient

    config = _config(args)
    async with AsyncClient(api_key=args["api_key"], api_base=args["api_base"],
                           max_retries=0) as client:  # fmt: skip
        if args["dry_run"]:
            dry = await plan(config, client)
            for line in dry.lines():
                click.echo(line)
            return 0
        fields = {k: v for k, v in asdict(config).items() if k not in ("output", "input")}
        fields["defaults"] = config.defaults
        fields["rules"] = config.rules
        progress = Progress()
        try:
            async with print_progress(progress, sys.stderr):
                async for _ in run(config.input, config.output, client=client,
                                   progress=progress, **fields):  # fmt: skip
                    pass
        except BatchStopped as exc:
            err(f"{exc}\nEverything finished is saved. Resume with:\n  {_resume()}")
            return EXIT_STOPPED
    paths = config.paths
    if progress.failed:
        err(f"{progress.failed} requests failed: see {paths.errors} "
            "(rerun with --retry-failed to send them again)")
        return 1
    return 0


def _resume() -> str:
    """The command line that resumes this run (the same, without --restart)."""
    words = [w for w in sys.argv[1:] if w != "--restart"]
    return shlex.join(["hfinfer", *words])
