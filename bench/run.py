"""Run the whole streaming benchmark in one go and print the table.

hfinfer and its peers stream the same TGI event streams from the bench server
(``bench/server.py``, pinned to core 0), each client in a fresh process pinned
to core 1, in both server modes (the whole body in one write / one HTTP chunk
per event), ``--repeats`` times in rotating order; cells are medians. Then:
import times (fresh processes), hfinfer's Hub requests on repeated generations
(in-process and through the disk cache in a new process), and the cost of
rendering a cached chat template.

    python bench/run.py --quick          # about a minute: validates the harness
    python bench/run.py --write          # the full run (7-8 min here), writes bench/RESULTS.md
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if __package__ in (None, ""):  # run as a script: make ``bench`` importable
    sys.path.insert(0, str(ROOT))

from bench import paced, sections  # noqa: E402
from bench import server as bench_server  # noqa: E402
from bench.common import (  # noqa: E402
    CLIENT_CPU,
    CLIENTS,
    FULL,
    IMPORTS,
    MEMORY,
    PACED,
    QUICK,
    SERVER_CPU,
    STANDARD,
    ClientSpec,
    Preset,
    Run,
    client_env,
    fmt,
    fmt_spread,
    loadavg,
    median_of,
    pinned,
    rotated,
    run_client,
    spread,
    spread_of,
)

PACKAGES = [
    "hfinfer",
    "aiohttp",
    "orjson",
    "msgspec",
    "jinja2",
    "huggingface_hub",
    "httpx",
    "httpx2",
    "text-generation",
    "pydantic",
    "g4f",
    "uvloop",
    "requests",
    "trustme",
]
#: RESULTS.md's sections written here, both before the foreign ones: the paced regime
#: first (the headline: where users live), then the one-write and chunk-per-event tables.
PACED_SECTION, STANDARD_SECTION = "streaming-paced", "streaming-bench"
INSTRUCTIONS_SECTION = "streaming-instructions"
TITLE = "# Streaming benchmark: hfinfer and its peers"
BASELINE = ROOT / "bench" / "baseline.json"


def standard_args(mode: str, preset: Preset) -> list[str]:
    levels = ",".join(f"{c}:{n}" for c, n in preset.levels)
    return [
        "--mode",
        mode,
        "--single",
        str(preset.single),
        "--levels",
        levels,
        "--ttft",
        str(preset.ttft),
        "--ttft-tokens",
        str(preset.ttft_tokens),
        "--warmup",
        str(preset.warmup),
    ]


def run_mode(run: Run, mode: str, specs: list[ClientSpec]) -> None:
    preset = run.preset
    specs = [s for s in specs if STANDARD in s.suites]
    process, url = bench_server.spawn(mode, preset.sizes(), SERVER_CPU)
    per_client: dict[str, list[dict[str, Any]]] = {s.key: [] for s in specs}
    try:
        for repeat in range(preset.repeats):
            for spec in rotated(specs, repeat):
                started = time.perf_counter()
                try:
                    result = run_client(spec, url, standard_args(mode, preset))
                except (RuntimeError, subprocess.TimeoutExpired, ValueError) as exc:
                    run.failures.append(f"{mode}/{spec.key}/#{repeat + 1}: {exc}")
                    print(f"  {mode:8} {spec.key:15} FAILED: {exc}", file=sys.stderr)
                    continue
                per_client[spec.key].append(result)
                single = result["single"]
                print(
                    f"  {mode:8} {spec.key:15} #{repeat + 1} "
                    f"{single['tokens_per_s']:>12,.0f} tok/s {single['cpu_ms_per_1k']:7.2f} ms/1k "
                    f"({time.perf_counter() - started:5.1f}s, load {loadavg().split()[0]})",
                    file=sys.stderr,
                )
                run.load.append((time.time(), loadavg()))
    finally:
        bench_server.stop(process)
    run.results[mode] = per_client


def time_imports(run: Run, keys: set[str]) -> None:
    for name, statement in IMPORTS.items():
        if name not in keys:
            continue
        code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
        samples = []
        for _ in range(run.preset.import_runs):
            done = subprocess.run(
                [sys.executable, "-c", code],
                cwd=ROOT,
                capture_output=True,
                text=True,
                preexec_fn=pinned(CLIENT_CPU),
                env=client_env("http://127.0.0.1:9", "/tmp"),
            )
            if done.returncode != 0:
                run.failures.append(f"import {name}: {done.stderr.strip()[-300:]}")
                break
            samples.append(float(done.stdout.strip()) * 1000)
        if samples:
            run.imports_ms[name] = statistics.median(samples)
            run.imports_spread[name] = spread(samples) or 0.0


def run_checks(run: Run) -> None:
    process, url = bench_server.spawn("one", [8, 200], SERVER_CPU)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-hf-home-") as home:
            env = client_env(url, home)
            for name in ("metadata_first_process", "metadata_new_process"):
                done = subprocess.run(
                    [sys.executable, "-m", "bench.checks", "metadata", "--url", url],
                    cwd=ROOT,
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=120,
                    preexec_fn=pinned(CLIENT_CPU),
                )
                run.checks[name] = _json_or_error(done)
    finally:
        bench_server.stop(process)
    done = subprocess.run(
        [sys.executable, "-m", "bench.checks", "template"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=pinned(CLIENT_CPU),
        env=client_env("http://127.0.0.1:9", tempfile.gettempdir()),
    )
    run.checks["template"] = _json_or_error(done)


def _json_or_error(done: subprocess.CompletedProcess) -> dict[str, Any]:
    if done.returncode != 0:
        return {"error": done.stderr.strip()[-600:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- the report -------------------------------------------------------------------


def errors_of(results: list[dict[str, Any]], level: str) -> int:
    return sum(r["levels"].get(level, {}).get("errors", 0) for r in results)


def summary(run: Run, mode: str) -> dict[str, dict[str, Any]]:
    rows = {}
    for key, results in run.results.get(mode, {}).items():
        if not results:
            continue
        rows[key] = {
            "runs": len(results),
            "single": median_of(results, "single", "tokens_per_s"),
            "cpu": median_of(results, "single", "cpu_ms_per_1k"),
            "cpu_spread": spread_of(results, "single", "cpu_ms_per_1k"),
            "ttft": median_of(results, "ttft_ms"),
            "server": median_of(results, "single", "server_cpu_share"),
            "rss": median_of(results, "peak_rss_mb"),
            "levels": {
                str(c): (
                    median_of(results, "levels", str(c), "tokens_per_s"),
                    errors_of(results, str(c)),
                    median_of(results, "levels", str(c), "cpu_ms_per_1k"),
                )
                for c, _ in run.preset.levels
            },
            "first_error": next(
                (
                    lv["first_error"]
                    for r in results
                    for lv in r["levels"].values()
                    if lv.get("first_error")
                ),
                None,
            ),
        }
    return rows


def table(run: Run, mode: str) -> str:
    rows = summary(run, mode)
    levels = [c for c, _ in run.preset.levels]
    head = (
        "| client | single stream tok/s | client CPU ms / 1k tok | TTFT ms (+ over raw) | "
        "agg tok/s @1 | "
        + " | ".join(f"@{c} (errors)" for c in levels)
        + f" | CPU ms/1k @{levels[-1]} | peak RSS MB | import ms | server CPU (single) |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    floor = rows["raw"]["ttft"] if "raw" in rows else None
    for spec in CLIENTS:
        row = rows.get(spec.key)
        if row is None:
            continue
        ttft = fmt(row["ttft"], 2)
        if floor is not None and row["ttft"] is not None and spec.kind != "limit":
            ttft += f" (+{row['ttft'] - floor:.2f})"
        cells = [
            spec.label,
            fmt(row["single"]),
            fmt(row["cpu"], 2) + fmt_spread(row["cpu_spread"]),
            ttft,
            fmt(row["single"]),
        ]
        for c in levels:
            tps, errs, _ = row["levels"][str(c)]
            cells.append(f"{fmt(tps)} ({errs})")
        cells += [
            fmt(row["levels"][str(levels[-1])][2], 2),
            fmt(row["rss"], 1),
            import_cell(run, spec),
            f"{fmt((row['server'] or 0) * 100)} %",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def import_cell(run: Run, spec: ClientSpec) -> str:
    cell = fmt(run.imports_ms.get(spec.imports), 1)
    if spec.kind == "hfinfer" and "hfinfer provider" in run.imports_ms:
        cell += f" (provider {fmt(run.imports_ms['hfinfer provider'], 1)})"
    return cell


def targets(run: Run) -> list[tuple[str, bool | None, str]]:
    """``(target, met, measured)`` rows for issue 5's targets."""
    out: list[tuple[str, bool | None, str]] = []
    top = str(run.preset.levels[-1][0])
    for mode in (m for m in ("one", "chunked") if m in run.results):
        rows = summary(run, mode)
        for ours, loop in (("hfinfer", "asyncio"), ("hfinfer-uvloop", "uvloop")):
            peers = [
                s.key for s in CLIENTS if s.kind == "peer" and s.loop == loop and s.key in rows
            ]
            if ours not in rows or not peers:
                continue
            me = rows[ours]
            tag = f"{mode}, {loop}"
            best_cpu = min(peers, key=lambda k: rows[k]["cpu"])
            ratio = rows[best_cpu]["cpu"] / me["cpu"]
            out.append(
                (
                    f"CPU/1k tokens ≤ 1/3 of best peer ({tag})",
                    ratio >= 3,
                    f"{me['cpu']:.2f} vs {rows[best_cpu]['cpu']:.2f} ms ({best_cpu}): {ratio:.1f}×",
                )
            )
            best_single = max(peers, key=lambda k: rows[k]["single"])
            ratio = me["single"] / rows[best_single]["single"]
            out.append(
                (
                    f"single-stream tok/s ≥ 3× best peer ({tag})",
                    ratio >= 3,
                    f"{me['single']:,.0f} vs {rows[best_single]['single']:,.0f} ({best_single}): "
                    f"{ratio:.1f}×",
                )
            )
            best_top = max(peers, key=lambda k: rows[k]["levels"][top][0] or 0)
            mine, errors, _ = me["levels"][top]
            ratio = (mine or 0) / (rows[best_top]["levels"][top][0] or 1)
            out.append(
                (
                    f"{top}-stream aggregate ≥ 3× best peer, no error ({tag})",
                    ratio >= 3 and errors == 0,
                    f"{mine or 0:,.0f} vs {rows[best_top]['levels'][top][0] or 0:,.0f} "
                    f"({best_top}): {ratio:.1f}×, {errors} errors",
                )
            )
    if "hfinfer" in run.imports_ms:
        ms = run.imports_ms["hfinfer"]
        out.append(("`import hfinfer` < 150 ms", ms < 150, f"{ms:.1f} ms"))
    for name, label in (
        ("metadata_first_process", "in-process"),
        ("metadata_new_process", "new process (disk cache)"),
    ):
        check = run.checks.get(name)
        if not check:
            continue
        if "error" in check:
            out.append((f"no metadata request on repeat, {label}", False, check["error"][:200]))
            continue
        models = check["models"]
        if label == "in-process":
            hits = sum(m["repeat_hub_requests"] for m in models.values())
            calls = sum(m["repeat_calls"] for m in models.values())
            firsts = {k: m["first_call_hub_requests"] for k, m in models.items()}
            out.append(
                (
                    "no metadata request on repeat, in-process",
                    hits == 0,
                    f"{hits} Hub requests over {calls} repeated generations "
                    f"(first calls: {firsts})",
                )
            )
        else:
            hits = sum(
                m["first_call_hub_requests"] + m["repeat_hub_requests"] for m in models.values()
            )
            out.append(
                (
                    "no metadata request on repeat, new process (disk cache)",
                    hits == 0,
                    f"{hits} Hub requests in a second process with the same HF_HOME",
                )
            )
    template = run.checks.get("template")
    if template is not None:
        if template.get("templates"):
            for name, row in template["templates"].items():
                us = max(row["build_prompt_us"], row["render_chat_template_us"])
                out.append(
                    (
                        f"rendering a cached chat template ≪ 1 ms ({name})",
                        us < 1000,
                        f"{row['build_prompt_us']:.0f} µs per build_prompt, "
                        f"{row['render_chat_template_us']:.0f} µs per render_chat_template "
                        f"(first render, the compile: {row['first_render_ms']:.1f} ms)",
                    )
                )
        else:
            out.append(
                (
                    "rendering a cached chat template ≪ 1 ms",
                    False,
                    template.get("error", "no result")[:200],
                )
            )
    return out


def template_section(run: Run) -> list[str]:
    template = run.checks.get("template") or {}
    if not template.get("templates"):
        return []
    lines = [
        "",
        "## Chat template rendering (`python bench/checks.py template`)",
        "",
        f"Real templates from `tests/data/templates/`, {template['messages']} messages "
        "(system + user), generation prompt on; median over 7 batches of "
        f"{template['iterations']} renders with the compile cache warm. The first call of "
        "the process also imports the template module and jinja2 and builds the sandbox: "
        f"{template['environment_ms']:.1f} ms (measured on a one-line template first).",
        "",
        "| template | chars | first render (compile) ms | `build_prompt` µs | "
        "`build_prompt` with `TemplateInfo` µs | `render_chat_template` µs |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, row in template["templates"].items():
        lines.append(
            f"| `{name}` | {row['template_chars']:,} | {row['first_render_ms']:.1f} | "
            f"{row['build_prompt_us']:.1f} | {row['build_prompt_with_template_info_us']:.1f} | "
            f"{row['render_chat_template_us']:.1f} |"
        )
    return lines


def versions() -> dict[str, str]:
    found = {}
    for name in PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def machine() -> dict[str, str]:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in cpuinfo.splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown",
    )
    mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    return {
        "cpu": model,
        "cores": str(os.cpu_count()),
        "memory": f"{mem_kb / 1024 / 1024:.1f} GiB",
        "kernel": platform.release(),
        "python": sys.version.split()[0],
    }


def standard_section(run: Run) -> str | None:
    """The one-write / chunk-per-event part of ``RESULTS.md``; ``None`` if it did not run."""
    if not any(mode in run.results for mode in ("one", "chunked")):
        return None
    preset = run.preset
    parts = [
        "## One write and chunk per event: hfinfer and its peers (issue 5)",
        "",
        f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(run.started))}, "
        f"{(run.finished - run.started) / 60:.1f} min for the whole command. "
        f"Rerun: `{run.command}`",
        "",
        "Workload: each client streams TGI events for the same prompt from `bench/server.py` "
        f"(pinned to core {SERVER_CPU}); each client runs in a fresh process pinned to core "
        f"{CLIENT_CPU}. Single stream: {preset.single:,} tokens. Concurrency levels "
        + ", ".join(f"{c} streams × {n:,} tokens" for c, n in preset.levels)
        + f" (@1 is the single stream). TTFT: median over {preset.ttft} warm generations of "
        f"{preset.ttft_tokens} tokens, call → first text. Medians of {preset.repeats} "
        "process runs (the client CPU's spread, (max − min) ÷ median, in brackets, ⚠ past "
        "30%); errors are summed over runs. Client CPU is the process CPU time "
        "(`time.process_time`) during the single stream, imports and start-up excluded. "
        "Import: median of "
        f"{preset.import_runs} fresh processes timing the import statement. "
        "Server CPU: the server's CPU time during the single stream ÷ its wall time "
        "(near 100 % means the server, not the client, set the pace).",
        "",
    ]
    for mode, title in (
        ("one", "Server writes the whole body in one write"),
        ("chunked", "Server writes one HTTP chunk per event (as TGI does)"),
    ):
        if mode in run.results:
            parts += [f"### {title} (`--mode {mode}`)", "", table(run, mode), ""]
    parts += ["### Issue 5 targets", "", "| target | met | measured |", "|---|---|---|"]
    for name, met, measured in targets(run):
        mark = {True: "yes", False: "**no**", None: "n/a"}[met]
        parts.append(f"| {name} | {mark} | {measured} |")
    parts += ["", "### Imports (median ms, fresh process)", ""]
    parts += [
        f"- `{IMPORTS[k]}`: {v:.1f} ms{fmt_spread(run.imports_spread.get(k))}"
        for k, v in run.imports_ms.items()
    ]
    parts += [line.replace("## ", "### ", 1) for line in template_section(run)]
    checks = {k: v for k, v in run.checks.items() if k != "firstcall"}
    parts += ["", "### Checks", "", "```json", json.dumps(checks, indent=2), "```", ""]
    parts += [
        "### Rerun",
        "",
        "From the repository root:",
        "",
        "```bash",
        "pip install -e .",
        "pip install -r bench/requirements.txt",
        "pip install --no-deps text-generation==0.7.0",
        run.command,
        "python bench/checks.py template                   # the template numbers alone",
        "python bench/profile_hfinfer.py --mode chunked --what stream --tokens 20000",
        "```",
        "",
        "### Machine",
        "",
        *machine_lines(run),
        "",
        "### Versions",
        "",
    ]
    parts += [f"- {k}: {v}" for k, v in versions().items()]
    return "\n".join(parts)


def machine_lines(run: Run) -> list[str]:
    lines = [f"- {k}: {v}" for k, v in machine().items()]
    loads = [float(v.split()[0]) for _, v in run.load] or [0.0]
    lines.append(
        f"- /proc/loadavg at start: `{run.load[0][1] if run.load else loadavg()}`; at end: "
        f"`{run.load[-1][1] if run.load else loadavg()}`; 1-min load during the run: "
        f"min {min(loads):.2f}, max "
        f"{max(loads):.2f} (the bench itself keeps one or two processes busy, so 1-2 is "
        "mostly its own load; the machine is shared with other work: read the numbers as noisy)"
    )
    return lines


def failures_part(run: Run) -> str:
    return "\n".join(["### Failures", "", *(f"- {f}" for f in run.failures)])


RAW = ROOT / "bench" / "results.json"
#: Each suite's raw results are saved here as soon as it ends, so a failure later
#: in the command (or in the report) loses nothing: ``--report-only`` rebuilds from it.
PARTIAL = Path(tempfile.gettempdir()) / "hfinfer-bench-partial.json"


def save_partial(run: Run) -> None:
    PARTIAL.write_text(json.dumps(run_record(run), indent=1))


def run_record(run: Run) -> dict[str, Any]:
    return {
        "preset": run.preset.__dict__,
        "command": run.command,
        "started": run.started,
        "finished": run.finished,
        "results": run.results,
        "imports_ms": run.imports_ms,
        "imports_spread": run.imports_spread,
        "checks": run.checks,
        "failures": run.failures,
        "load": run.load,
    }


def run_from_record(record: dict[str, Any]) -> Run:
    preset = Preset(
        **{
            k: tuple(v) if isinstance(v, list) and k.startswith("pace") else v
            for k, v in record["preset"].items()
        }
    )
    preset.levels = [tuple(level) for level in preset.levels]  # type: ignore[misc]
    run = Run(preset, record["command"])
    run.started, run.finished = record["started"], record["finished"]
    run.results, run.imports_ms = record["results"], record["imports_ms"]
    run.imports_spread, run.checks = record.get("imports_spread", {}), record["checks"]
    run.failures, run.load = record["failures"], [tuple(x) for x in record["load"]]
    return run


def write_results(run: Run, baseline: dict[str, Any] | None) -> None:
    """Rewrite our sections of ``RESULTS.md`` (the others kept) and merge ``results.json``."""
    path = ROOT / "bench" / "RESULTS.md"
    old = path.read_text() if path.exists() else ""
    standard = standard_section(run)
    headline = paced.section(run, baseline, machine_lines(run))
    if run.failures:
        standard = standard and standard + "\n\n" + failures_part(run)
        headline = headline and failures_part(run) + "\n\n" + headline
    # bench/instructions.py's section (kept as it is) explains the paced table: next to it.
    leading = [
        (PACED_SECTION, headline),
        (INSTRUCTIONS_SECTION, None),
        (STANDARD_SECTION, standard),
    ]
    path.write_text(sections.merge(old, TITLE, leading, []))
    RAW.write_text(json.dumps(run_record(run), indent=1))
    print(f"wrote {path} and {RAW}", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one repeat")
    parser.add_argument("--write", action="store_true", help="write bench/RESULTS.md")
    parser.add_argument("--repeats", type=int, help="override the preset's repeats")
    parser.add_argument(
        "--modes",
        default="paced,memory,one,chunked",
        help="what to run: paced (paced server, HTTP and TLS), memory, one, chunked",
    )
    parser.add_argument(
        "--clients",
        default=",".join(s.key for s in CLIENTS),
        help="subset of: " + ",".join(s.key for s in CLIENTS),
    )
    parser.add_argument("--skip-checks", action="store_true", help="no imports/metadata checks")
    parser.add_argument(
        "--save-baseline", action="store_true", help="keep this run as bench/baseline.json"
    )
    parser.add_argument(
        "--report-only",
        metavar="JSON",
        help="measure nothing: rebuild the report from a run's raw results (results.json)",
    )
    args = parser.parse_args()
    if args.report_only:
        finish(run_from_record(json.loads(Path(args.report_only).read_text())), args)
        return
    preset = QUICK if args.quick else FULL
    if args.repeats:
        preset.repeats = args.repeats
        preset.memory_repeats = args.repeats
    keys = set(args.clients.split(","))
    specs = [s for s in CLIENTS if s.key in keys]
    run = Run(preset, "python bench/run.py " + shlex.join(sys.argv[1:]))
    run.load.append((time.time(), loadavg()))
    modes = args.modes.split(",")
    if PACED in modes:
        paced.run_paced(run, specs)
        save_partial(run)
    if MEMORY in modes:
        paced.run_memory(run, specs)
        save_partial(run)
    for mode in modes:
        if mode in ("one", "chunked"):
            run_mode(run, mode, specs)
            save_partial(run)
    if not args.skip_checks:
        time_imports(run, {s.imports for s in specs} | {"hfinfer provider", "aiohttp"})
        paced.run_first_call(run)
        if any(mode in ("one", "chunked") for mode in modes):
            run_checks(run)
    run.finished = time.time()
    run.load.append((run.finished, loadavg()))
    save_partial(run)
    finish(run, args)


def finish(run: Run, args: argparse.Namespace) -> None:
    """Print the report; save the baseline and write RESULTS.md when asked."""
    baseline = json.loads(BASELINE.read_text()) if BASELINE.exists() else None
    paced_part = paced.section(run, baseline, machine_lines(run))
    print("\n\n".join(filter(None, [standard_section(run), paced_part])))
    if args.save_baseline:
        BASELINE.write_text(json.dumps(paced.baseline_of(run), indent=1))
    if args.write:
        write_results(run, None if args.save_baseline else baseline)


if __name__ == "__main__":
    main()
