"""``hfinfer serve`` run as a subprocess on 127.0.0.1 and an ephemeral port, for tests.

The process gets an environment of its own (HF_* pointing at a local test
server, HF_HOME in a temporary folder); its output goes to a file, read to
find the port uvicorn bound and, in tests, the access-log lines.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path

_LISTENING = re.compile(rb"Uvicorn running on http://127\.0\.0\.1:(\d+)")
#: Generous: a loaded 2-core machine can take seconds to import and start.
START_TIMEOUT = 60.0


class Gateway:
    """A running ``hfinfer serve``; ``url`` is its base (``http://127.0.0.1:PORT``)."""

    def __init__(self, process: subprocess.Popen[bytes], log: Path, url: str) -> None:
        self.process = process
        self.log = log
        self.url = url

    @property
    def v1(self) -> str:
        return f"{self.url}/v1"

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def gateway_env(upstream: str, home: Path, **extra: str) -> dict[str, str]:
    """The child's environment: the machine's, minus HF_*/HFINFER_*, pointed at ``upstream``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("HF_", "HFINFER_", "HUGGING_FACE_"))
        and not k.lower().endswith("_proxy")
    }
    env.update(
        HF_ENDPOINT=upstream,
        HF_ROUTER_URL=upstream,
        HFINFER_API_BASE=upstream,
        HF_HOME=str(home),
        NO_PROXY="127.0.0.1",
    )
    env.update(extra)
    return env


def start_gateway(args: list[str], env: dict[str, str], log: Path) -> Gateway:
    """Start ``hfinfer serve --port 0 ARGS`` and wait until ``/health`` answers."""
    command = [
        sys.executable,
        "-c",
        "from hfinfer.cli.main import main; main()",
        "serve",
        "--port",
        "0",
        *args,
    ]
    with log.open("wb") as sink:
        process = subprocess.Popen(command, env=env, stdout=sink, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        found = _LISTENING.search(log.read_bytes())
        if found:
            gateway = Gateway(process, log, f"http://127.0.0.1:{int(found.group(1))}")
            if _healthy(gateway.url):
                return gateway
        if process.poll() is not None:
            raise RuntimeError(f"hfinfer serve exited ({process.returncode}):\n{log.read_text()}")
        time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"hfinfer serve did not start in {START_TIMEOUT} s:\n{log.read_text()}")


@contextlib.contextmanager
def serving_gateway(
    upstream: str, home: Path, args: Sequence[str] = (), **env: str
) -> Iterator[Gateway]:
    """``hfinfer serve ARGS`` in front of ``upstream`` (the environment of
    :func:`gateway_env`, plus ``env``), its output in ``home/serve.log``; stopped
    on leaving."""
    started = start_gateway(list(args), gateway_env(upstream, home, **env), home / "serve.log")
    try:
        yield started
    finally:
        started.stop()


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=5) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False
