"""The gateway benchmark: streaming clients straight to an upstream, through a minimal
aiohttp relay (the floor), through ``hfinfer serve``, and through LiteLLM's proxy.

Every target relays the same upstream (``bench/gateway_upstream.py``: 200-token
``chat.completion.chunk`` streams, one write per event). The gateway under test
runs alone on core 0; the upstream and the load (this process) share core 1.
For each concurrency level, ``--duration`` seconds of back-to-back streaming
requests per client, then the requests in flight finish. Measured: requests/s,
time to first token (request sent -> first content event) minus the direct
one (p50, p99), the gateway process's CPU time per 1,000 relayed tokens (and
per event), and errors (a status other than 200, or a stream that did not
carry every token and ``[DONE]``).

    python bench/gateway.py --quick      # a few seconds per cell: checks the harness
    python bench/gateway.py --write      # the full run; the table goes into bench/RESULTS.md

LiteLLM's proxy is run from its own virtual environment (``--litellm-python``,
default ``bench/.venv-litellm/bin/python`` or ``$LITELLM_PYTHON``): install it
with ``python -m venv bench/.venv-litellm && bench/.venv-litellm/bin/pip install
-r bench/requirements-litellm.txt``. Without it, its rows say so.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
RESULTS = BENCH / "RESULTS.md"
BEGIN, END = "<!-- BEGIN gateway -->", "<!-- END gateway -->"
MODEL = "bench/model"
GATEWAY_CPU, LOAD_CPU = 0, 1
_PORT = re.compile(
    rb"(?:listening on |Uvicorn running on http://0\.0\.0\.0:|"
    rb"Uvicorn running on http://127\.0\.0\.1:)(\d+)"
)


# -- processes ---------------------------------------------------------------------


def _pin(pid: int, cpu: int) -> None:
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > cpu:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(pid, {cpu})


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of ``pid`` and its descendants (Linux /proc)."""
    total, ticks = 0.0, os.sysconf("SC_CLK_TCK")
    stack = [pid]
    while stack:
        current = stack.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
            for task in Path(f"/proc/{current}/task").iterdir():
                children = (task / "children").read_text().split()
                stack.extend(int(c) for c in children)
        except (OSError, IndexError, ValueError):
            continue
    return total


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    url: str

    def cpu(self) -> float:
        return _cpu_seconds(self.popen.pid)

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(20)
            except subprocess.TimeoutExpired:
                self.popen.kill()


def start(
    name: str,
    command: list[str],
    env: dict[str, str],
    cpu: int,
    folder: Path,
    ready_path: str | None = "/health",
    timeout: float = 120.0,
    port: int | None = None,
) -> Process:
    log = folder / f"{name}.log"
    with log.open("wb") as sink:
        popen = subprocess.Popen(command, env=env, stdout=sink, stderr=subprocess.STDOUT)
    _pin(popen.pid, cpu)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = _PORT.search(log.read_bytes())
        if found or port is not None:
            url = f"http://127.0.0.1:{port or int(found.group(1))}"  # type: ignore[union-attr]
            if ready_path is None or _ready(url + ready_path):
                return Process(name, popen, log, url)
        if popen.poll() is not None:
            raise RuntimeError(f"{name} exited:\n{log.read_text()[-3000:]}")
        time.sleep(0.1)
    popen.kill()
    raise RuntimeError(f"{name} did not start:\n{log.read_text()[-3000:]}")


def _ready(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status < 500
    except OSError:
        return False


def base_env(home: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("HF_", "HFINFER_")) and not k.lower().endswith("_proxy")
    }
    env.update(HF_HOME=str(home), NO_PROXY="127.0.0.1", PYTHONUNBUFFERED="1")
    return env


# -- load --------------------------------------------------------------------------


@dataclass
class Cell:
    requests: int = 0
    errors: int = 0
    tokens: int = 0
    elapsed: float = 0.0
    ttft: list[float] = field(default_factory=list)
    cpu: float | None = None
    first_error: str | None = None
    median_rps: float | None = None  # set on a cell merged from rounds

    @property
    def rps(self) -> float:
        if self.median_rps is not None:
            return self.median_rps
        return self.requests / self.elapsed if self.elapsed else 0.0


async def _one(
    session: aiohttp.ClientSession, url: str, body: bytes, tokens: int, cell: Cell
) -> None:
    sent = time.perf_counter()
    try:
        async with session.post(
            url,
            data=body,
            headers={"content-type": "application/json", "authorization": "Bearer sk-bench"},
        ) as r:
            if r.status != 200:
                cell.errors += 1
                cell.first_error = (
                    cell.first_error or f"HTTP {r.status}: {(await r.read())[:200]!r}"
                )
                return
            first, events, tail = None, 0, b""
            async for data in r.content.iter_any():
                if first is None and b'"content"' in data:
                    first = time.perf_counter() - sent
                events += data.count(b"data: ")
                tail = (tail + data)[-64:]
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        cell.errors += 1
        cell.first_error = cell.first_error or repr(exc)
        return
    # tokens + finish + usage + [DONE]; the usage event may share the finish one.
    if b"[DONE]" not in tail or events < tokens + 2 or first is None:
        cell.errors += 1
        cell.first_error = cell.first_error or f"incomplete stream ({events} events)"
        return
    cell.requests += 1
    cell.tokens += tokens
    cell.ttft.append(first)


async def load(url: str, concurrency: int, duration: float, tokens: int) -> Cell:
    body = json.dumps(
        {
            "model": MODEL,
            "stream": True,
            "max_tokens": tokens,
            "messages": [{"role": "user", "content": "Count."}],
            "stream_options": {"include_usage": True},
        }
    ).encode()
    cell = Cell()
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    timeout = aiohttp.ClientTimeout(total=600)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        stop_at = time.perf_counter() + duration

        async def client() -> None:
            while time.perf_counter() < stop_at:
                await _one(session, f"{url}/v1/chat/completions", body, tokens, cell)

        began = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        cell.elapsed = time.perf_counter() - began
    return cell


def measure(
    process: Process | None, url: str, concurrency: int, duration: float, tokens: int
) -> Cell:
    before = process.cpu() if process else 0.0
    cell = asyncio.run(load(url, concurrency, duration, tokens))
    if process is not None:
        cell.cpu = process.cpu() - before
    return cell


# -- targets -----------------------------------------------------------------------


def hfinfer_command() -> list[str]:
    return [
        sys.executable,
        "-c",
        "from hfinfer.cli.main import main; main()",
        "serve",
        "--port",
        "0",
    ]


def litellm_python(option: str | None) -> Path | None:
    for candidate in (
        option,
        os.environ.get("LITELLM_PYTHON"),
        str(BENCH / ".venv-litellm" / "bin" / "python"),
    ):
        if candidate and Path(candidate).exists():
            return Path(candidate)
    return None


def litellm_start(python: Path, upstream: str, env: dict[str, str], folder: Path) -> Process:
    config = folder / "litellm.yaml"
    config.write_text(
        "model_list:\n"
        f"  - model_name: {MODEL}\n"
        "    litellm_params:\n"
        f"      model: openai/{MODEL}\n"
        f"      api_base: {upstream}/v1\n"
        "      api_key: sk-upstream\n"
        "litellm_settings:\n"
        "  drop_params: true\n"
        "  telemetry: false\n",
        encoding="utf-8",
    )
    litellm = python.parent / "litellm"
    command = [str(litellm), "--config", str(config), "--host", "127.0.0.1", "--port", "0"]
    port = _free_port()
    command[-1] = str(port)
    env = {
        **env,
        "LITELLM_LOG": "ERROR",
        "LITELLM_TELEMETRY": "False",
        "LITELLM_MASTER_KEY": "sk-bench",
    }
    return start("litellm", command, env, GATEWAY_CPU, folder, "/health/liveliness", 300, port)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def litellm_version(python: Path) -> str:
    out = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('litellm'))"],
        capture_output=True,
        text=True,
    )
    return out.stdout.strip() or "?"


# -- report ------------------------------------------------------------------------


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def table(results: dict[str, dict[int, Cell]], levels: list[int], tokens: int) -> list[str]:
    direct = results.get("direct", {})
    rows = [
        "| target | streams | requests/s | TTFT p50 ms | TTFT added p50 / p99 ms | "
        "gateway CPU ms / 1k tokens | µs / event | errors |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, cells in results.items():
        for level in levels:
            cell = cells.get(level)
            if cell is None:
                continue
            base = direct.get(level)
            p50, p99 = _pct(cell.ttft, 0.5) * 1000, _pct(cell.ttft, 0.99) * 1000
            if base is not None and name != "direct":
                added = (
                    f"{p50 - _pct(base.ttft, 0.5) * 1000:+.2f} / "
                    f"{p99 - _pct(base.ttft, 0.99) * 1000:+.2f}"
                )
            else:
                added = "—"
            if cell.cpu is not None and cell.tokens:
                per_k = f"{cell.cpu / cell.tokens * 1e6:.1f}"
                per_event = f"{cell.cpu / (cell.requests * (tokens + 3)) * 1e6:.1f}"
            else:
                per_k = per_event = "—"
            rows.append(
                f"| {name} | {level} | {cell.rps:,.1f} | {p50:.2f} | {added} | {per_k} | "
                f"{per_event} | {cell.errors} |"
            )
    return rows


def _cpu_per_token(cells: dict[int, Cell]) -> float:
    spent = sum(c.cpu or 0.0 for c in cells.values())
    return spent / max(1, sum(c.tokens for c in cells.values()))


def targets_check(results: dict[str, dict[int, Cell]], levels: list[int]) -> list[str]:
    """The issue's targets, against the stricter floor: of the two relays (asyncio,
    uvloop), the one that spent less CPU per event."""
    relays = [name for name in results if name.startswith("minimal aiohttp relay")]
    ours, direct = results.get("hfinfer serve"), results.get("direct")
    if not relays or not ours or not direct:
        return []
    floor_name = min(relays, key=lambda name: _cpu_per_token(results[name]))
    relay = results[floor_name]
    lines = [
        "",
        f"Targets of issue 16, against the floor ({floor_name}):",
        "",
        "| target | met | measured |",
        "|---|---|---|",
    ]
    ratio = _cpu_per_token(ours) / _cpu_per_token(relay)
    litellm = results.get("LiteLLM proxy")
    vs_litellm = (
        f"; LiteLLM's proxy spends {_cpu_per_token(litellm) / _cpu_per_token(ours):.0f}× hfinfer's"
        if litellm
        else ""
    )
    lines.append(
        f"| CPU per relayed event ≤ 1.5× the relay's (all levels together) | "
        f"{'yes' if ratio <= 1.5 else 'no'} | {ratio:.2f}×{vs_litellm} |"
    )
    for level in (lvl for lvl in levels if lvl in (1, 50)):
        for q, label in ((0.5, "p50"), (0.99, "p99")):
            base = _pct(direct[level].ttft, q)
            ours_added = _pct(ours[level].ttft, q) - base
            relay_added = _pct(relay[level].ttft, q) - base
            ok = ours_added <= 2 * max(relay_added, 0.0) or ours_added <= 0
            lines.append(
                f"| TTFT added @{level} {label} ≤ 2× the relay's | {'yes' if ok else 'no'}"
                f" | {ours_added * 1000:+.2f} vs {relay_added * 1000:+.2f} ms |"
            )
    top = max(levels)
    lines.append(
        f"| no error at {top} streams | {'yes' if ours[top].errors == 0 else 'no'} | "
        f"{ours[top].errors} errors in {ours[top].requests} requests |"
    )
    return lines


def write_results(text: str) -> None:
    current = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else ""
    block = f"{BEGIN}\n{text.rstrip()}\n{END}"
    if BEGIN in current and END in current:
        head, _, rest = current.partition(BEGIN)
        _, _, tail = rest.partition(END)
        updated = head + block + tail
    else:
        updated = current.rstrip() + ("\n\n" if current else "") + block + "\n"
    RESULTS.write_text(updated, encoding="utf-8")


# -- main --------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--levels", default="1,50,200")
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per cell")
    parser.add_argument("--repeats", type=int, default=3, help="rounds, in rotating order")
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--quick", action="store_true", help="2 s per cell, one round")
    parser.add_argument("--write", action="store_true", help="write bench/RESULTS.md")
    parser.add_argument("--litellm-python", default=None)
    parser.add_argument("--skip", default="", help="comma-separated targets to leave out")
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    if args.quick:
        args.duration, args.repeats = 2.0, 1
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    # A terminated run still stops the processes it started (the finally blocks run).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="gateway-bench-") as tmp:
        folder = Path(tmp)
        env = base_env(folder / "hf_home")
        _pin(os.getpid(), LOAD_CPU)
        command = [sys.executable, str(BENCH / "gateway_upstream.py"), "--tokens", str(args.tokens)]
        upstream = start("upstream", command, env, LOAD_CPU, folder, ready_path=None)
        notes: list[str] = []
        try:
            plans = [
                ("direct", None),
                *gateway_plans(upstream.url, env, folder, args.litellm_python, notes),
            ]
            plans = [(name, launch) for name, launch in plans if name not in skip]
            rounds = run_rounds(plans, upstream.url, levels, args)
        finally:
            upstream.stop()
    results = {
        name: {level: merge(cells[level]) for level in levels} for name, cells in rounds.items()
    }
    report = render(results, levels, args, notes, time.time() - started)
    print(report)
    if args.write:
        write_results(report)


#: LiteLLM's proxy is about fifty times slower: one round of it is plenty, and more
#: would take most of the run.
ONE_ROUND = {"LiteLLM proxy"}


def run_rounds(
    plans: list[tuple[str, Any]], upstream: str, levels: list[int], args: argparse.Namespace
) -> dict[str, dict[int, list[Cell]]]:
    """Every target, ``args.repeats`` times in rotating order (load on the machine
    changes over time: rotation spreads it over the targets)."""
    rounds: dict[str, dict[int, list[Cell]]] = {
        name: {lv: [] for lv in levels} for name, _ in plans
    }
    for repeat in range(args.repeats):
        shift = repeat % len(plans)
        for name, launch in plans[shift:] + plans[:shift]:
            if repeat and name in ONE_ROUND:
                continue
            process = launch() if launch is not None else None
            try:
                url = process.url if process is not None else upstream
                cells = run_target(process, url, levels, args.duration, args.tokens)
            finally:
                if process is not None:
                    process.stop()
            for level, cell in cells.items():
                rounds[name][level].append(cell)
    return rounds


def merge(cells: list[Cell]) -> Cell:
    """One cell of several rounds: requests/s the median, TTFT samples pooled,
    CPU and tokens summed (so CPU per token is over all of them), errors summed."""
    merged = Cell()
    merged.requests = sum(c.requests for c in cells)
    merged.errors = sum(c.errors for c in cells)
    merged.tokens = sum(c.tokens for c in cells)
    merged.ttft = [t for c in cells for t in c.ttft]
    cpus = [c.cpu for c in cells if c.cpu is not None]
    merged.cpu = sum(cpus) if cpus else None
    merged.median_rps = statistics.median(c.rps for c in cells)
    merged.first_error = next((c.first_error for c in cells if c.first_error), None)
    return merged


def gateway_plans(
    upstream: str, env: dict[str, str], folder: Path, litellm: str | None, notes: list[str]
) -> list[tuple[str, object]]:
    ours_env = {**env, "HF_ENDPOINT": upstream, "HF_ROUTER_URL": upstream, "HF_TOKEN": "hf_bench"}
    relay_command = [sys.executable, str(BENCH / "gateway_relay.py"), "--upstream", upstream]
    plans: list[tuple[str, object]] = [
        (
            "minimal aiohttp relay",
            lambda: start("relay", relay_command, env, GATEWAY_CPU, folder, ready_path=None),
        ),
        (
            "minimal aiohttp relay (uvloop)",
            lambda: start(
                "relay-uvloop",
                [*relay_command, "--uvloop"],
                env,
                GATEWAY_CPU,
                folder,
                ready_path=None,
            ),
        ),
        (
            "hfinfer serve",
            lambda: start("hfinfer", hfinfer_command(), ours_env, GATEWAY_CPU, folder),
        ),
    ]
    python = litellm_python(litellm)
    if python is None:
        notes.append("LiteLLM's proxy: not installed (see the docstring of bench/gateway.py).")
    else:
        notes.append(
            f"LiteLLM's proxy {litellm_version(python)}, drop_params on, logging at ERROR."
        )
        plans.append(("LiteLLM proxy", lambda: litellm_start(python, upstream, env, folder)))
    return plans


def run_target(
    process: Process | None, url: str, levels: list[int], duration: float, tokens: int
) -> dict[int, Cell]:
    measure(process, url, 4, min(1.0, duration), tokens)  # warm-up: pools, caches, imports
    cells = {}
    for level in levels:
        cells[level] = cell = measure(process, url, level, duration, tokens)
        name = process.name if process else "direct"
        print(
            f"  {name} @{level}: {cell.rps:.1f} req/s, {cell.errors} errors"
            + (f" ({cell.first_error})" if cell.first_error else ""),
            file=sys.stderr,
        )
    return cells


def render(
    results: dict[str, dict[int, Cell]],
    levels: list[int],
    args: argparse.Namespace,
    notes: list[str],
    seconds: float,
) -> str:
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    lines = [
        "## Gateway: `hfinfer serve` beside a minimal relay and LiteLLM's proxy",
        "",
        f"Run {stamp}, {seconds / 60:.1f} min. Rerun: `python bench/gateway.py --write`.",
        "",
        f"Each client sends back-to-back streaming chat requests ({args.tokens}-token streams, "
        f"`stream_options.include_usage`) for {args.duration:g} s per cell; requests in flight "
        f"then finish. {args.repeats} rounds over the targets in rotating order (LiteLLM's "
        "proxy: one); requests/s is the median round, TTFT percentiles are over all rounds' "
        "requests, CPU is summed over them. The gateway runs alone on core 0; the upstream "
        "(`bench/gateway_upstream.py`) and the load share core 1. TTFT: request sent -> first "
        "content event; *added* is its percentile minus the direct one. CPU: the gateway "
        "process's user+system time during the cell ÷ relayed tokens (and ÷ events: tokens + "
        "finish + usage + [DONE]). hfinfer serve runs as shipped (uvicorn with httptools and "
        "uvloop, its access log on, written to a file).",
        "",
        *table(results, levels, args.tokens),
        *targets_check(results, levels),
        "",
        *(f"- {note}" for note in notes),
        f"- Machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}; shared with other "
        "work while it ran, so absolute numbers move between runs; ratios move less.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
