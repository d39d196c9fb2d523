"""What the bench's drivers share: the clients, the presets, one run's record, and
running one client in a fresh pinned process."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CLIENT_CPU = 1
SERVER_CPU = 0
RUNNER_TIMEOUT = 600
#: Repeats whose spread ((max - min) / median) passes this are flagged in the report.
SPREAD_WARNING = 0.30

STANDARD, PACED, MEMORY = "standard", "paced", "memory"


@dataclass(frozen=True)
class ClientSpec:
    key: str
    label: str
    module: str
    loop: str = "asyncio"
    kind: str = "peer"  # "hfinfer", "peer", "limit" or "floor" (a limit that delivers)
    imports: str = ""
    #: The suites this client takes part in.
    suites: frozenset[str] = frozenset({STANDARD, PACED})
    #: Whether it is measured over TLS too (paced suite; the uvloop rows and the slowest
    #: peer only over plain HTTP, to keep the run under half an hour).
    tls: bool = True
    variant: str = ""


CLIENTS = [
    ClientSpec(
        "hfinfer",
        "**hfinfer**",
        "hfinfer_client",
        kind="hfinfer",
        imports="hfinfer",
        suites=frozenset({STANDARD, PACED, MEMORY}),
    ),
    ClientSpec(
        "hfinfer-cls",
        "**hfinfer** (classmethod call)",
        "hfinfer_client",
        kind="hfinfer",
        imports="hfinfer",
        suites=frozenset({MEMORY}),
        variant="classmethod",
    ),
    ClientSpec(
        "hfinfer-uvloop",
        "**hfinfer** (uvloop)",
        "hfinfer_client",
        "uvloop",
        "hfinfer",
        "hfinfer",
        tls=False,
    ),
    ClientSpec(
        "hub",
        "huggingface_hub AsyncInferenceClient",
        "hub_client",
        imports="huggingface_hub",
        # The slowest peers (30 and 20 s a process paced) stay in the one-write and
        # chunk-per-event tables only: the whole run has to fit in half an hour.
        suites=frozenset({STANDARD}),
    ),
    ClientSpec("tgi", "`text-generation` AsyncClient", "tgi_client", imports="text_generation"),
    ClientSpec("g4f", "gpt4free 7.9.0 HuggingFaceInference", "g4f_client", imports="g4f"),
    ClientSpec(
        "aiohttp",
        "plain aiohttp lines + json.loads",
        "aiohttp_lines",
        imports="aiohttp",
        suites=frozenset({STANDARD, PACED, MEMORY}),
    ),
    ClientSpec(
        "aiohttp-uvloop",
        "plain aiohttp lines + json.loads (uvloop)",
        "aiohttp_lines",
        "uvloop",
        imports="aiohttp",
        tls=False,
    ),
    ClientSpec(
        "httpx",
        "plain httpx aiter_lines + json.loads",
        "httpx_lines",
        imports="httpx",
        suites=frozenset({STANDARD}),
    ),
    ClientSpec(
        "raw",
        "raw socket, bytes only (the limit)",
        "raw_socket",
        kind="limit",
        imports="raw",
        suites=frozenset({STANDARD, PACED, MEMORY}),
    ),
    ClientSpec(
        "raw-256k",
        "raw socket, asyncio's 256 KiB reads (as issue 13 measured)",
        "raw_socket",
        kind="limit",
        imports="raw",
        suites=frozenset({PACED}),
        variant="asyncio-reads",
    ),
    ClientSpec(
        "raw-wake",
        "raw socket + a task woken per event (the floor of any streaming client)",
        "raw_socket",
        kind="floor",
        imports="raw",
        suites=frozenset({PACED}),
        variant="wake",
    ),
]

#: What ``import X`` means for each package (timed in a fresh process).
IMPORTS = {
    "hfinfer": "import hfinfer",
    "hfinfer provider": "from hfinfer import HuggingFaceInference",
    "huggingface_hub": "from huggingface_hub import AsyncInferenceClient",
    "text_generation": "from text_generation import AsyncClient",
    "g4f": "import g4f.Provider.needs_auth.hf.HuggingFaceInference",
    "aiohttp": "import aiohttp",
    "httpx": "import httpx",
    "raw": "import asyncio, socket",
}


@dataclass
class Preset:
    single: int
    levels: list[tuple[int, int]]
    ttft: int
    repeats: int
    import_runs: int
    warmup: int = 200
    ttft_tokens: int = 8
    #: Paced suite: server pacings (ms between events) and concurrent streams; each
    #: cell streams ``paced_seconds`` of events.
    paces: tuple[int, ...] = (2, 10)
    paced_streams: tuple[int, ...] = (8, 32, 64)
    paced_seconds: float = 2.0
    memory_streams: int = 512
    memory_repeats: int = 3

    def sizes(self) -> list[int]:
        return [self.single, self.warmup, self.ttft_tokens, 8] + [n for _, n in self.levels]

    def paced_cells(self) -> list[tuple[int, int, int]]:
        """``(pace_ms, streams, tokens)`` of every paced cell."""
        return [
            (pace, streams, max(int(self.paced_seconds * 1000 / pace), 20))
            for pace in self.paces
            for streams in self.paced_streams
        ]


FULL = Preset(
    single=30000, levels=[(16, 3000), (128, 800), (512, 400)], ttft=30, repeats=3, import_runs=7
)
QUICK = Preset(
    single=5000,
    levels=[(16, 500), (128, 100), (512, 50)],
    ttft=5,
    repeats=1,
    import_runs=3,
    paced_streams=(8, 64),
    paced_seconds=0.5,
    memory_repeats=1,
)


@dataclass
class Run:
    """Everything measured, kept for the report (and ``bench/results.json``)."""

    preset: Preset
    command: str
    results: dict[str, dict[str, list[dict[str, Any]]]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    imports_ms: dict[str, float] = field(default_factory=dict)
    imports_spread: dict[str, float] = field(default_factory=dict)
    checks: dict[str, Any] = field(default_factory=dict)
    load: list[tuple[float, str]] = field(default_factory=list)
    started: float = field(default_factory=time.time)
    finished: float = 0.0


def loadavg() -> str:
    return Path("/proc/loadavg").read_text().strip()


def pinned(cpu: int) -> Any:
    return lambda: os.sched_setaffinity(0, {cpu})


def client_env(url: str, home: str, ca: Path | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HFINFER_"))}
    env.update(HF_ENDPOINT=url, HF_HOME=home, HF_HUB_DISABLE_TELEMETRY="1", PYTHONHASHSEED="0")
    env.pop("SSL_CERT_FILE", None)
    if ca is not None:
        env["SSL_CERT_FILE"] = str(ca)
    return env


def run_client(
    spec: ClientSpec, url: str, args: list[str], hub: str | None = None, ca: Path | None = None
) -> dict[str, Any]:
    """Run ``spec``'s runner in a fresh process pinned to the client core, with its own
    ``HF_HOME``; ``args`` are the harness's arguments after ``--url``. ``hub``: the
    plain-HTTP server address for ``HF_ENDPOINT`` (default ``url``)."""
    command = [sys.executable, "-m", f"bench.clients.{spec.module}", "--url", url, *args]
    command += ["--loop", spec.loop]
    if spec.variant:
        command += ["--variant", spec.variant]
    with tempfile.TemporaryDirectory(prefix="bench-hf-home-") as home:
        done = subprocess.run(
            command,
            cwd=ROOT,
            env=client_env(hub or url, home, ca),
            capture_output=True,
            text=True,
            timeout=RUNNER_TIMEOUT,
            preexec_fn=pinned(CLIENT_CPU),
        )
    if done.returncode != 0:
        raise RuntimeError(f"exit {done.returncode}: {done.stderr.strip()[-800:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def rotated(specs: list[ClientSpec], repeat: int) -> list[ClientSpec]:
    """The clients in the order of repeat ``repeat`` (each repeat starts one later)."""
    if not specs:
        return []
    shift = repeat % len(specs)
    return specs[shift:] + specs[:shift]


def values_at(results: list[dict[str, Any]], *path: str) -> list[float]:
    values = []
    for result in results:
        value: Any = result
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if isinstance(value, (int, float)):
            values.append(float(value))
    return values


def median_of(results: list[dict[str, Any]], *path: str) -> float | None:
    values = values_at(results, *path)
    return statistics.median(values) if values else None


def spread(values: list[float]) -> float | None:
    """``(max - min) / median`` of repeated measurements; ``None`` for fewer than two."""
    if len(values) < 2:
        return None
    middle = statistics.median(values)
    return (max(values) - min(values)) / middle if middle else None


def spread_of(results: list[dict[str, Any]], *path: str) -> float | None:
    return spread(values_at(results, *path))


def fmt(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "–"
    return f"{value:,.{digits}f}"


def fmt_spread(value: float | None) -> str:
    """`` (12%)``, with a warning sign past :data:`SPREAD_WARNING`; empty for one run."""
    if value is None:
        return ""
    return f" ({value:.0%}{' ⚠' if value > SPREAD_WARNING else ''})"
