"""Instructions per streamed event, counted by valgrind: the paced regime without noise.

CPU time per event on a shared machine moves by a third from one process to
the next (``bench/RESULTS.md``, the spreads); the instructions a client runs per
event do not. Each client streams one paced stream (an event every 20 ms, so
each event is its own read and the loop sleeps between them, as at generation
speed) of ``SHORT`` and then ``LONG`` tokens, each in a fresh process under
``valgrind --tool=callgrind`` with ``PYTHONHASHSEED=0``; the difference of the
two counts ÷ (``LONG`` − ``SHORT``) is what one event costs, start-up, imports
and per-stream work cancelled. Instructions are not time (a cache miss costs
more than an add), but they show where the work is, exactly, and what any
client must pay: the floor row wakes a task once per read and parses nothing.

    python bench/instructions.py            # prints the table (about 8 minutes)
    python bench/instructions.py --write    # also writes its section of bench/RESULTS.md
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if __package__ in (None, ""):  # run as a script: make ``bench`` importable
    sys.path.insert(0, str(ROOT))

from bench import sections, tls  # noqa: E402
from bench import server as bench_server  # noqa: E402
from bench.common import CLIENTS, SERVER_CPU, ClientSpec, client_env  # noqa: E402

SHORT, LONG = 100, 500
PACE_MS = 20
SECTION = "streaming-instructions"
#: The rows, by their ``bench/common.py`` keys, and the transports each is counted on.
ROWS = {
    "raw": ("http", "tls"),
    "raw-wake": ("http", "tls"),
    "hfinfer": ("http", "tls"),
    "aiohttp": ("http",),
    "g4f": ("http",),
    "tgi": ("http",),
}
_TOTAL = re.compile(r"I\s+refs:\s+([\d,]+)")


def count(spec: ClientSpec, url: str, hub: str, tokens: int, ca: Path | None) -> int:
    """The instructions of one run of ``spec`` streaming ``tokens`` tokens."""
    command = [
        "valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
        sys.executable, "-m", f"bench.clients.{spec.module}", "--url", url,
        "--stats-url", hub, "--suite", "paced", "--cells", f"{PACE_MS}:1:{tokens}",
        "--warmup", "5",
    ]  # fmt: skip
    if spec.variant:
        command += ["--variant", spec.variant]
    with tempfile.TemporaryDirectory(prefix="bench-hf-home-") as home:
        done = subprocess.run(
            command, cwd=ROOT, env=client_env(hub, home, ca), capture_output=True, text=True
        )
    found = _TOTAL.search(done.stderr)
    if done.returncode != 0 or found is None:
        raise RuntimeError(f"{spec.key}: exit {done.returncode}: {done.stderr.strip()[-600:]}")
    return int(found[1].replace(",", ""))


def per_event(spec: ClientSpec, url: str, hub: str, ca: Path | None) -> float:
    short, long = (count(spec, url, hub, n, ca) for n in (SHORT, LONG))
    return (long - short) / (LONG - SHORT)


def measure() -> dict[str, dict[str, float]]:
    """``transport -> client key -> instructions per event``."""
    specs = {spec.key: spec for spec in CLIENTS if spec.loop == "asyncio"}
    out: dict[str, dict[str, float]] = {"http": {}, "tls": {}}
    with tempfile.TemporaryDirectory(prefix="bench-tls-") as folder:
        certs = tls.make_certificates(Path(folder))
        process, url = bench_server.spawn(
            "chunked", [2, 5, SHORT, LONG], SERVER_CPU, (certs.cert, certs.key)
        )
        try:
            for key, transports in ROWS.items():
                for transport in transports:
                    base = url if transport == "http" else bench_server.tls_url(process)
                    ca = certs.ca if transport == "tls" else None
                    out[transport][key] = per_event(specs[key], base, url, ca)
                    print(f"{transport} {key}: {out[transport][key]:,.0f}", file=sys.stderr)
        finally:
            bench_server.stop(process)
    return out


def report(found: dict[str, dict[str, float]], started: float) -> str:
    labels = {spec.key: spec.label for spec in CLIENTS}
    lines = [
        "## Instructions per event, paced (issue 13)",
        "",
        f"Counted {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(started))} with "
        f"`python bench/instructions.py --write` ({(time.time() - started) / 60:.1f} min): "
        f"one stream paced {PACE_MS} ms (each event its own read, the loop asleep between "
        f"them), {SHORT} and {LONG} tokens in two fresh processes under valgrind's "
        "callgrind, `PYTHONHASHSEED=0`; the difference ÷ "
        f"{LONG - SHORT} is one event's instructions, with start-up and per-stream work "
        "cancelled. Repeat runs of the raw, floor, hfinfer (plain HTTP) and aiohttp rows "
        "agreed within 1% here; gpt4free's did not (87k, 113k and 135k in three runs): "
        "its work per event depends on timing. Instructions are not time, but they show "
        "through the noise what the CPU-time tables above measure.",
        "",
    ]
    for transport, title in (("http", "plain HTTP"), ("tls", "TLS")):
        rows = found.get(transport) or {}
        raw, floor = rows.get("raw"), rows.get("raw-wake")
        if not raw or not floor:
            continue
        lines += [
            f"### {title}",
            "",
            "| client | instructions per event | × raw socket | above the floor |",
            "|---|---:|---:|---:|",
        ]
        for key, value in rows.items():
            lines.append(
                f"| {labels[key]} | {value:,.0f} | {value / raw:.2f} | {value - floor:+,.0f} |"
            )
        lines.append("")
    http = found.get("http", {})
    if {"raw", "raw-wake", "hfinfer"} <= set(http):
        raw, floor, mine = http["raw"], http["raw-wake"], http["hfinfer"]
        lines += [
            f"What it says: waking a task once per read costs {floor - raw:,.0f} "
            f"instructions per event on the default asyncio loop (the loop turns twice: "
            "the read's callback resolves a future, the task runs on the next turn), "
            f"{(floor - raw) / raw:.0%} more than the raw socket's whole work per event. "
            "Any client that hands each event to a coroutine pays it, so in instructions no "
            f"such client can come within {floor / raw:.2f}× of the raw socket here; hfinfer "
            f"spends {mine - floor:,.0f} above that floor on the chunked framing, the SSE event, "
            "its JSON, the text stream's state and the two generators between the socket "
            "and the caller.",
            "",
        ]
    return "\n".join(lines)


def write(body: str) -> None:
    """Put the section after the paced-regime one (or replace it where it is)."""
    path = ROOT / "bench" / "RESULTS.md"
    old = path.read_text()
    block = sections.wrap(SECTION, body)
    found = dict(sections.parse(old))
    if SECTION in found:
        path.write_text(old.replace(found[SECTION], block))
        return
    paced = found.get("streaming-paced")
    if paced is None:
        path.write_text(old.rstrip() + "\n\n" + block)
    else:
        path.write_text(old.replace(paced, paced + "\n" + block))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help="write its section of RESULTS.md")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("bench/instructions.py needs valgrind (apt install valgrind)")
    started = time.time()
    body = report(measure(), started)
    print(body)
    if args.write:
        write(body)


if __name__ == "__main__":
    main()
