"""Where users live (issue 13): streams paced like a model generating, over plain
HTTP and TLS; memory per open stream; what the provider's import costs.

- Paced: the server (``/pace/<ms>`` routes of ``bench/server.py``) writes one
  HTTP chunk per event, ``ms`` apart, so every event is its own read. Each
  client runs in a fresh process per transport and repeat, through every cell
  (pace × concurrent streams); the cell's number is the client process's CPU
  time per 1,000 tokens. The TLS listener uses a certificate from a CA the
  bench makes for the run (``bench/tls.py``).
- Memory: resident memory per open stream with 512 streams open at once
  (a slow paced route holds them), against the process before they opened.
- Import: ``from hfinfer import HuggingFaceInference`` against ``import hfinfer``,
  and whether the provider's import loaded aiohttp.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import server as bench_server
from bench import tls
from bench.common import (
    CLIENT_CPU,
    CLIENTS,
    MEMORY,
    PACED,
    ROOT,
    SERVER_CPU,
    SPREAD_WARNING,
    ClientSpec,
    Run,
    client_env,
    fmt,
    fmt_spread,
    loadavg,
    median_of,
    pinned,
    rotated,
    run_client,
    spread_of,
)

TRANSPORTS = ("http", "tls")
#: Issue 13's targets: hfinfer's CPU per 1,000 tokens at most this many times the
#: raw socket's, per transport; memory per stream at most this times bare aiohttp's.
CPU_TARGET = {"http": 1.5, "tls": 1.3}
MEMORY_TARGET = 1.5
HOLD_PACE_MS = 250


def cell_args(run: Run) -> str:
    return ",".join(f"{p}:{s}:{n}" for p, s, n in run.preset.paced_cells())


def run_paced(run: Run, specs: list[ClientSpec]) -> None:
    """Every paced cell for every client, per transport, ``repeats`` times."""
    specs = [s for s in specs if PACED in s.suites]
    if not specs:
        return
    tokens = sorted({n for _, _, n in run.preset.paced_cells()} | {2, run.preset.warmup})
    with tempfile.TemporaryDirectory(prefix="bench-tls-") as folder:
        certs = tls.make_certificates(Path(folder))
        process, url = bench_server.spawn("chunked", tokens, SERVER_CPU, (certs.cert, certs.key))
        try:
            for transport in TRANSPORTS:
                base = url if transport == "http" else bench_server.tls_url(process)
                chosen = [s for s in specs if transport == "http" or s.tls]
                _paced_transport(run, transport, chosen, base, url, certs.ca)
        finally:
            bench_server.stop(process)


def _paced_transport(
    run: Run, transport: str, specs: list[ClientSpec], base: str, hub: str, ca: Path
) -> None:
    key = f"paced-{transport}"
    per_client: dict[str, list[dict[str, Any]]] = run.results.setdefault(key, {})
    args = ["--suite", "paced", "--cells", cell_args(run), "--stats-url", hub]
    args += ["--warmup", str(run.preset.warmup)]
    for repeat in range(run.preset.repeats):
        for spec in rotated(specs, repeat):
            started = time.perf_counter()
            try:
                result = run_client(spec, base, args, hub=hub, ca=ca)
            except (RuntimeError, subprocess.TimeoutExpired, ValueError) as exc:
                run.failures.append(f"{key}/{spec.key}/#{repeat + 1}: {exc}")
                print(f"  {key:10} {spec.key:15} FAILED: {exc}", file=sys.stderr)
                continue
            per_client.setdefault(spec.key, []).append(result)
            cells = " ".join(
                f"{name}={cell['cpu_ms_per_1k']:.1f}" for name, cell in result["cells"].items()
            )
            print(
                f"  {key:10} {spec.key:15} #{repeat + 1} ms/1k {cells} "
                f"({time.perf_counter() - started:5.1f}s, load {loadavg().split()[0]})",
                file=sys.stderr,
            )
            run.load.append((time.time(), loadavg()))


def run_memory(run: Run, specs: list[ClientSpec]) -> None:
    """Memory per open stream at ``memory_streams`` streams, per client, repeated."""
    specs = [s for s in specs if MEMORY in s.suites]
    if not specs:
        return
    per_client: dict[str, list[dict[str, Any]]] = run.results.setdefault(MEMORY, {})
    process, url = bench_server.spawn("chunked", [1, 10_000], SERVER_CPU)
    args = ["--suite", "memory", "--streams", str(run.preset.memory_streams)]
    args += ["--hold-pace", str(HOLD_PACE_MS)]
    try:
        for repeat in range(run.preset.memory_repeats):
            for spec in rotated(specs, repeat):
                try:
                    result = run_client(spec, url, args)
                except (RuntimeError, subprocess.TimeoutExpired, ValueError) as exc:
                    run.failures.append(f"memory/{spec.key}/#{repeat + 1}: {exc}")
                    print(f"  memory     {spec.key:15} FAILED: {exc}", file=sys.stderr)
                    continue
                per_client.setdefault(spec.key, []).append(result)
                print(
                    f"  memory     {spec.key:15} #{repeat + 1} "
                    f"{result['memory']['kib_per_stream']:.1f} KiB/stream",
                    file=sys.stderr,
                )
    finally:
        bench_server.stop(process)


def run_first_call(run: Run) -> None:
    """The provider's import and first calls in fresh processes (median of 3)."""
    process, url = bench_server.spawn("chunked", [8], SERVER_CPU)
    samples = []
    try:
        for _ in range(3):
            with tempfile.TemporaryDirectory(prefix="bench-hf-home-") as home:
                done = subprocess.run(
                    [sys.executable, "-m", "bench.checks", "firstcall", "--url", url],
                    cwd=ROOT,
                    env=client_env(url, home),
                    capture_output=True,
                    text=True,
                    timeout=120,
                    preexec_fn=pinned(CLIENT_CPU),
                )
            if done.returncode != 0:
                run.failures.append(f"firstcall: {done.stderr.strip()[-300:]}")
                return
            samples.append(json.loads(done.stdout.strip().splitlines()[-1]))
    finally:
        bench_server.stop(process)
    run.checks["firstcall"] = {
        "runs": samples,
        "import_ms": median_of(samples, "import_ms"),
        "first_call_ms": median_of(samples, "first_call_ms"),
        "second_call_ms": median_of(samples, "second_call_ms"),
        "loaded_by_import": samples[0]["loaded_by_import"],
    }


# -- the report ---------------------------------------------------------------


def cell_stats(run: Run, transport: str, key: str, cell: str) -> dict[str, Any] | None:
    results = run.results.get(f"paced-{transport}", {}).get(key)
    if not results:
        return None
    cells = [r["cells"][cell] for r in results if cell in r.get("cells", {})]
    if not cells:
        return None
    return {
        "cpu": median_of(cells, "cpu_ms_per_1k"),
        "spread": spread_of(cells, "cpu_ms_per_1k"),
        "errors": sum(c["errors"] for c in cells),
        "late": max(c["server_late_share"] for c in cells),
        "server": max(c["server_cpu_share"] for c in cells),
        "slow": max(c["wall_s"] / c["expected_wall_s"] for c in cells),
        "first_error": next((c["first_error"] for c in cells if c.get("first_error")), None),
    }


def cell_names(run: Run) -> list[str]:
    return [f"{p}:{s}" for p, s, _ in run.preset.paced_cells()]


def ratio_to_raw(run: Run, transport: str, key: str, limit: str = "raw") -> dict[str, float]:
    """``cell -> key's CPU / the limit's CPU`` where both were measured."""
    out = {}
    for cell in cell_names(run):
        mine, raw = cell_stats(run, transport, key, cell), cell_stats(run, transport, limit, cell)
        if mine and raw and mine["cpu"] and raw["cpu"]:
            out[cell] = mine["cpu"] / raw["cpu"]
    return out


def paced_table(run: Run, transport: str) -> list[str]:
    cells = cell_names(run)
    head = "| client | " + " | ".join(_cell_title(c) for c in cells)
    head += " | × raw (worst cell) | errors | events late (max) |"
    lines = [head, "|---|" + "---:|" * (len(cells) + 3)]
    for spec in CLIENTS:
        stats = [cell_stats(run, transport, spec.key, c) for c in cells]
        if not any(stats):
            continue
        row = [spec.label]
        row += [fmt(s["cpu"], 1) + fmt_spread(s["spread"]) if s else "–" for s in stats]
        ratios = ratio_to_raw(run, transport, spec.key)
        worst = max(ratios.items(), key=lambda item: item[1]) if ratios else None
        if spec.kind == "limit" or worst is None:
            row.append("1.00" if spec.kind == "limit" else "–")
        else:
            row.append(f"{worst[1]:.2f} ({_cell_title(worst[0])})")
        row.append(str(sum(s["errors"] for s in stats if s)))
        row.append(f"{max(s['late'] for s in stats if s):.0%}")
        lines.append("| " + " | ".join(row) + " |")
    return lines


def _cell_title(cell: str) -> str:
    pace, streams = cell.split(":")
    return f"{pace} ms × {streams}"


def server_note(run: Run, transport: str) -> str:
    stats = [
        s
        for spec in CLIENTS
        for cell in cell_names(run)
        if (s := cell_stats(run, transport, spec.key, cell))
    ]
    if not stats:
        return ""
    late = max(s["late"] for s in stats)
    server = max(s["server"] for s in stats)
    slow = max(s["slow"] for s in stats)
    return (
        f'Server check ({transport}): "events late" is the largest share, over the row\'s '
        "cells and repeats, of events the server wrote more than a pace after their time "
        "(a late server sends them back to back, so they share reads: cheaper for the "
        "client); a client that cannot keep up makes it late too (flow control). Over all "
        f"rows: at most {late:.0%} late, the server at most {server:.0%} of its core, the "
        f"slowest cell {slow:.2f}× its paced time."
    )


def memory_table(run: Run) -> list[str]:
    results = run.results.get(MEMORY, {})
    lines = [
        f"| client | KiB per open stream @{run.preset.memory_streams} (spread) | "
        f"RSS before MB | RSS with {run.preset.memory_streams} open MB | × bare aiohttp |",
        "|---|---:|---:|---:|---:|",
    ]
    base = median_of(results.get("aiohttp", []), "memory", "kib_per_stream")
    for spec in CLIENTS:
        rows = results.get(spec.key)
        if not rows:
            continue
        kib = median_of(rows, "memory", "kib_per_stream")
        ratio = f"{kib / base:.2f}" if kib and base else "–"
        kib_spread = fmt_spread(spread_of(rows, "memory", "kib_per_stream"))
        lines.append(
            f"| {spec.label} | {fmt(kib, 1)}{kib_spread}"
            f" | {fmt(median_of(rows, 'memory', 'rss_before_mb'), 1)}"
            f" | {fmt(median_of(rows, 'memory', 'rss_open_mb'), 1)} | {ratio} |"
        )
    return lines


def targets(run: Run, baseline: dict[str, Any] | None) -> list[tuple[str, bool | None, str]]:
    """``(target, met, measured)`` rows for issue 13."""
    out: list[tuple[str, bool | None, str]] = []
    for transport in TRANSPORTS:
        for reference, named in (
            ("raw", "raw socket (64 KiB reads)"),
            ("raw-256k", "raw socket with asyncio's 256 KiB reads, as the issue measured"),
        ):
            ratios = ratio_to_raw(run, transport, "hfinfer", reference)
            if not ratios:
                continue
            cell, worst = max(ratios.items(), key=lambda item: item[1])
            limit = CPU_TARGET[transport]
            listed = ", ".join(f"{_cell_title(c)} {r:.2f}" for c, r in ratios.items())
            out.append(
                (
                    f"paced, {transport}: CPU/1k tokens ≤ {limit}× {named} (every cell)",
                    worst <= limit,
                    f"worst {worst:.2f}× ({_cell_title(cell)}); {listed}",
                )
            )
        floor = ratio_to_raw(run, transport, "raw-wake")
        if floor:
            ratios = ratio_to_raw(run, transport, "hfinfer")
            out.append(
                (
                    f"paced, {transport}: the floor, a raw socket waking a task per event, "
                    "× the raw socket (what any streaming client pays; for the record)",
                    None,
                    ", ".join(f"{_cell_title(c)} {r:.2f}" for c, r in floor.items()),
                )
            )
            over = {c: ratios[c] / floor[c] for c in floor if c in ratios}
            if over:
                out.append(
                    (
                        f"paced, {transport}: hfinfer × the floor (for the record)",
                        None,
                        ", ".join(f"{_cell_title(c)} {r:.2f}" for c, r in over.items()),
                    )
                )
        spreads = [
            (cell, s["spread"])
            for cell in cell_names(run)
            if (s := cell_stats(run, transport, "hfinfer", cell)) and s["spread"] is not None
        ]
        if spreads:
            cell, worst_spread = max(spreads, key=lambda item: item[1])
            out.append(
                (
                    f"paced, {transport}: hfinfer's spread across repeats < 30%",
                    worst_spread < SPREAD_WARNING,
                    f"worst {worst_spread:.0%} ({_cell_title(cell)})",
                )
            )
    out += _memory_targets(run)
    out += _import_targets(run, baseline)
    out += regression_targets(run, baseline)
    return out


def _memory_targets(run: Run) -> list[tuple[str, bool | None, str]]:
    results = run.results.get(MEMORY, {})
    base = median_of(results.get("aiohttp", []), "memory", "kib_per_stream")
    out: list[tuple[str, bool | None, str]] = []
    for key, label in (("hfinfer", "instance"), ("hfinfer-cls", "classmethod call")):
        kib = median_of(results.get(key, []), "memory", "kib_per_stream")
        if kib is None or not base:
            continue
        out.append(
            (
                f"memory per open stream @{run.preset.memory_streams} ≤ {MEMORY_TARGET}× bare "
                f"aiohttp ({label})",
                kib <= MEMORY_TARGET * base,
                f"{kib:.1f} vs {base:.1f} KiB: {kib / base:.2f}×",
            )
        )
    return out


def _import_targets(
    run: Run, baseline: dict[str, Any] | None
) -> list[tuple[str, bool | None, str]]:
    first = run.checks.get("firstcall")
    base, provider = run.imports_ms.get("hfinfer"), run.imports_ms.get("hfinfer provider")
    out: list[tuple[str, bool | None, str]] = []
    if first:
        loaded = [name for name, yes in first["loaded_by_import"].items() if yes]
        looked = ", ".join(first["loaded_by_import"])
        out.append(
            (
                "`from hfinfer import HuggingFaceInference` does not import aiohttp",
                "aiohttp" not in loaded,
                f"loaded at import: {', '.join(loaded) or 'none of ' + looked};"
                f" first 8-token call {first['first_call_ms']:.1f} ms, second "
                f"{first['second_call_ms']:.1f} ms (fresh process, new HF_HOME)",
            )
        )
    if base is not None and provider is not None:
        before = (baseline or {}).get("imports_ms", {})
        was = ""
        if "hfinfer" in before and "hfinfer provider" in before:
            was = f" (baseline: +{before['hfinfer provider'] - before['hfinfer']:.1f} ms)"
        out.append(
            (
                "what the provider's import costs over `import hfinfer` (for the record)",
                None,
                f"{provider:.1f} vs {base:.1f} ms: +{provider - base:.1f} ms{was}",
            )
        )
    return out


#: A row of the one-write / chunk-per-event tables regresses when hfinfer's CPU per
#: 1,000 tokens exceeds the baseline's by more than this (the bench's spread here).
REGRESSION_TOLERANCE = 0.20


def regression_targets(
    run: Run, baseline: dict[str, Any] | None
) -> list[tuple[str, bool | None, str]]:
    """hfinfer's standard rows against ``bench/baseline.json`` (the run before the work)."""
    if not baseline:
        return []
    out: list[tuple[str, bool | None, str]] = []
    for mode, rows in baseline.get("standard", {}).items():
        now = run.results.get(mode, {})
        for key, before in rows.items():
            if key not in now:
                continue
            for metric, path in (
                ("CPU/1k single", ("single", "cpu_ms_per_1k")),
                ("CPU/1k @512", ("levels", "512", "cpu_ms_per_1k")),
            ):
                old, new = before.get(metric), median_of(now[key], *path)
                if old is None or new is None:
                    continue
                out.append(
                    (
                        f"no regression: {key} {mode} {metric} ≤ baseline + "
                        f"{REGRESSION_TOLERANCE:.0%}",
                        new <= old * (1 + REGRESSION_TOLERANCE),
                        f"{new:.2f} vs {old:.2f} ms ({new / old - 1:+.0%})",
                    )
                )
    return out


def baseline_of(run: Run) -> dict[str, Any]:
    """What ``--save-baseline`` keeps: hfinfer's standard rows and paced cells."""
    standard: dict[str, Any] = {}
    for mode in ("one", "chunked"):
        for key in ("hfinfer", "hfinfer-uvloop", "aiohttp", "raw"):
            rows = run.results.get(mode, {}).get(key)
            if rows:
                standard.setdefault(mode, {})[key] = {
                    "CPU/1k single": median_of(rows, "single", "cpu_ms_per_1k"),
                    "CPU/1k @512": median_of(rows, "levels", "512", "cpu_ms_per_1k"),
                }
    paced = {
        transport: {
            key: {c: cell_stats(run, transport, key, c) for c in cell_names(run)}
            for key in ("hfinfer", "aiohttp", "raw")
        }
        for transport in TRANSPORTS
    }
    return {
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(run.started)),
        "standard": standard,
        "paced": paced,
    }


def section(run: Run, baseline: dict[str, Any] | None, machine: list[str]) -> str | None:
    """The paced-regime section of ``RESULTS.md``, or ``None`` when nothing of it ran."""
    if not any(k in run.results for k in ("paced-http", "paced-tls", MEMORY)):
        return None
    preset = run.preset
    cells = preset.paced_cells()
    parts = [
        "## Where users live: paced streams, memory per stream, import (issue 13)",
        "",
        f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(run.started))}, "
        f"{(run.finished - run.started) / 60:.1f} min for the whole command. "
        f"Rerun: `{run.command}`; the paced part alone: "
        "`python bench/run.py --modes paced,memory --write`.",
        "",
        "The server (`bench/server.py`, `/pace/<ms>` routes, pinned to core "
        f"{SERVER_CPU}) writes one HTTP chunk per TGI event, each its own write, "
        "`ms` apart (first event with the head, then a random phase per stream so that "
        "streams do not tick in step), as a model generating at that speed does; every "
        "event reaches the client in its own read. Each cell: STREAMS concurrent streams "
        f"of {', '.join(sorted({f'{n:,}' for _, _, n in cells}))} tokens "
        f"({preset.paced_seconds:g} s of events), after as many unmeasured short streams "
        "filled the client's pool; the number is the client process's CPU time "
        "(`time.process_time`, pinned to core "
        f"{CLIENT_CPU}) per 1,000 tokens, default asyncio loop unless named. Each client "
        f"runs in a fresh process per transport and repeat; medians of {preset.repeats} "
        "repeats, the spread ((max − min) ÷ median) in brackets, ⚠ past 30%. TLS: a CA and "
        "a certificate for 127.0.0.1 made by the bench for the run (`bench/tls.py`, "
        "trustme), trusted through `SSL_CERT_FILE`; TLS 1.3.",
        "",
    ]
    parts += _memory_part(run)
    parts += _import_part(run)
    parts += ["### Issue 13 targets", "", "| target | met | measured |", "|---|---|---|"]
    for name, met, measured in targets(run, baseline):
        mark = {True: "yes", False: "**no**", None: "n/a"}[met]
        parts.append(f"| {name} | {mark} | {measured} |")
    if baseline:
        parts += ["", f"Baseline: `bench/baseline.json` ({baseline.get('when', '?')})."]
    parts += ["", "### Machine (this run)", "", *machine, ""]
    for transport, title in (("http", "plain HTTP"), ("tls", "TLS")):
        if f"paced-{transport}" in run.results:
            parts += [
                f"### Paced, {title}: client CPU ms per 1,000 tokens",
                "",
                *paced_table(run, transport),
                "",
                server_note(run, transport),
                "",
            ]
    parts += gap_note(run)
    return "\n".join(parts)


def _max_load(run: Run) -> float:
    return max((float(v.split()[0]) for _, v in run.load), default=0.0)


def gap_note(run: Run) -> list[str]:
    """The measured gap to the raw socket and what limits it, when a CPU target is missed."""
    lines = []
    for transport in TRANSPORTS:
        ratios = ratio_to_raw(run, transport, "hfinfer")
        if not ratios or max(ratios.values()) <= CPU_TARGET[transport]:
            continue
        extra = [
            mine["cpu"] - raw["cpu"]
            for cell in cell_names(run)
            if (mine := cell_stats(run, transport, "hfinfer", cell))
            and (raw := cell_stats(run, transport, "raw", cell))
        ]
        lines.append(
            f"- {transport}: hfinfer spends {min(extra):.1f} to {max(extra):.1f} µs more per "
            "event than the raw socket with 64 KiB reads (ms per 1,000 tokens = µs per event)."
        )
    if not lines:
        return []
    floor = [
        f"- {transport}: a raw socket that wakes a task once per read, parsing nothing, "
        f"costs {min(r.values()):.2f} to {max(r.values()):.2f}× the raw socket"
        for transport in TRANSPORTS
        if (r := ratio_to_raw(run, transport, "raw-wake"))
    ]
    return [
        "### The gap, and what limits it",
        "",
        *lines,
        *floor,
        "",
        "The raw socket does no work per event: it counts bytes and wakes no one until the "
        "body ends. Any client that hands each event to a coroutine must wake the reading "
        "task once per read; on the default asyncio loop that costs a second turn of the "
        "loop per event (the read's callback resolves a future; the task runs on the next "
        "turn, after another poll) and the task's step, which the floor row measures. "
        "Above that hfinfer decodes the chunked framing in `data_received` "
        "(`hfinfer/http/chunked.py`), spots the one whole SSE event of the read, decodes "
        "its JSON (msgspec), updates the text stream's state and yields through two "
        "generators (the route's and the public one). `python bench/instructions.py` "
        "counts each row's instructions per event without the noise of CPU time (its "
        "section follows): in instructions the floor alone is about twice the raw "
        "socket's over plain HTTP, and in CPU time (the lines above) it uses much of the "
        "1.5× budget before any parsing, for any client that delivers each event to a "
        "coroutine on this loop; what is hfinfer's own is the part above the floor. "
        f"The machine was shared (1-min load up to {_max_load(run):.0f} here): in some "
        "repeats the server "
        'wrote events late and back to back ("events late"), which merges reads and '
        "makes every client cheaper, and spreads pass 30%; the medians keep one "
        "disturbed repeat out.",
        "",
    ]


def _memory_part(run: Run) -> list[str]:
    if MEMORY not in run.results:
        return []
    return [
        f"### Memory per open stream ({run.preset.memory_streams} at once)",
        "",
        f"{run.preset.memory_streams} streams opened at once from a route pacing "
        f"{HOLD_PACE_MS} ms, resident memory (`/proc/self/statm`) once every stream "
        "showed its first text, minus the resident memory before (one warm-up stream "
        f"done), ÷ {run.preset.memory_streams}; medians of {run.preset.memory_repeats} fresh "
        "processes. The classmethod row calls `HuggingFaceInference.create_async_generator` "
        "with no instance (a pool per call).",
        "",
        *memory_table(run),
        "",
    ]


def _import_part(run: Run) -> list[str]:
    first = run.checks.get("firstcall")
    base, provider = run.imports_ms.get("hfinfer"), run.imports_ms.get("hfinfer provider")
    if base is None or provider is None:
        return []
    lines = [
        "### Import",
        "",
        f"- `import hfinfer`: {base:.1f} ms; `from hfinfer import HuggingFaceInference`: "
        f"{provider:.1f} ms (+{provider - base:.1f} ms); `import aiohttp` alone: "
        f"{fmt(run.imports_ms.get('aiohttp'), 1)} ms (medians of {run.preset.import_runs} "
        "fresh processes)",
    ]
    if first:
        loaded = ", ".join(n for n, yes in first["loaded_by_import"].items() if yes) or "none"
        lines.append(
            f"- in a fresh process: the provider's import loads {loaded} (of "
            f"{', '.join(first['loaded_by_import'])}); its first 8-token call takes "
            f"{first['first_call_ms']:.1f} ms (the lazy imports, the session, the model's "
            f"metadata), the second {first['second_call_ms']:.1f} ms"
        )
    return [*lines, ""]
