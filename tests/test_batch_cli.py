"""``hfinfer batch run`` as a real process: killed with SIGKILL midway and resumed,
stopped by a 402 with the resume line, a dry run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from batchserver import MODEL, BatchRouter, read_jsonl, rows, write_jsonl
from hfinfer.cli.main import cli
from hfserver import running_in_thread
from routerserver import clear_router_caches

COMMAND = [sys.executable, "-c", "from hfinfer.cli.main import main; main()"]


@pytest.fixture
def router(monkeypatch: pytest.MonkeyPatch) -> Iterator[BatchRouter]:
    server = BatchRouter()
    clear_router_caches()
    with running_in_thread(server):
        for name in ("HF_ENDPOINT", "HF_ROUTER_URL"):
            monkeypatch.setenv(name, server.url)
        yield server
    clear_router_caches()


def batch_args(source: Path, out: Path, *extra: str) -> list[str]:
    return ["batch", "run", "-i", str(source), "-o", str(out), "--model", MODEL, *extra]


def wait_for_lines(path: Path, count: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if path.exists() and path.read_bytes().count(b"\n") >= count:
            return
        if process.poll() is not None:
            raise AssertionError(f"the run ended early: {process.stderr.read()!r}")  # type: ignore[union-attr]
        time.sleep(0.05)
    raise AssertionError(f"{path} never reached {count} lines")


def test_a_killed_run_resumes_without_resending_or_duplicating(
    router: BatchRouter, tmp_path: Path
) -> None:
    router.delay = 0.15
    source = write_jsonl(tmp_path / "in.jsonl", rows(40))
    out = tmp_path / "out.jsonl"
    process = subprocess.Popen(
        [*COMMAND, *batch_args(source, out, "--concurrency", "4")],
        env=os.environ.copy(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        wait_for_lines(out, 8, process)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(30)
        process.stdout.close()  # type: ignore[union-attr]
        process.stderr.close()  # type: ignore[union-attr]
    assert process.returncode == -signal.SIGKILL
    with router.lock:
        sent_before = dict(router.counts)
    # Lines that reached the file whole (a kill may land between two writes of a line).
    whole = out.read_bytes().split(b"\n")[:-1]
    finished = {json.loads(line)["custom_id"] for line in whole}
    assert 8 <= len(finished) < 40
    resumed = subprocess.run(
        [*COMMAND, *batch_args(source, out, "--concurrency", "4")],
        env=os.environ.copy(), capture_output=True, timeout=300,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr.decode()
    ids = [line["custom_id"] for line in read_jsonl(out)]
    assert sorted(ids) == sorted(f"r{n}" for n in range(40))  # each once: no duplicate
    for cid in finished:  # nothing that was written was asked again
        assert router.counts[cid] == sent_before[cid] == 1
    resent = [cid for cid in sent_before if router.counts[cid] > 1]
    assert len(resent) <= 4  # at most the requests in flight at the kill
    assert "40 done" not in resumed.stderr.decode()  # the summary counts this run only
    assert f"{40 - len(finished)} done" in resumed.stderr.decode()


def test_402_stops_with_the_line_that_resumes(router: BatchRouter, tmp_path: Path) -> None:
    router.pay_after = 3
    source = write_jsonl(tmp_path / "in.jsonl", rows(10))
    out = tmp_path / "out.jsonl"
    args = batch_args(source, out, "--concurrency", "1")
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 3, result.output
    assert "HTTP 402" in result.stderr and "Resume with:" in result.stderr
    assert len(read_jsonl(out)) == 3
    router.pay_after = None
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert sorted(line["custom_id"] for line in read_jsonl(out)) == sorted(
        f"r{n}" for n in range(10)
    )
    assert all(router.counts[f"r{n}"] == 1 for n in range(3))


def test_dry_run_sends_nothing(router: BatchRouter, tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", rows(5))
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(cli, [*batch_args(source, out, "--max-tokens", "50"), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "5 in the input, 5 to send" in result.stdout
    assert "at most 250 completion" in result.stdout
    assert router.chat_requests == 0 and not out.exists()


def test_failed_rows_exit_1_and_name_the_errors_file(
    router: BatchRouter, tmp_path: Path
) -> None:
    router.fail_rows = {"r1"}
    source = write_jsonl(tmp_path / "in.jsonl", rows(3))
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(cli, batch_args(source, out))
    assert result.exit_code == 1
    assert "out.errors.jsonl" in result.stderr and "--retry-failed" in result.stderr
    assert "2 done, 1 failed" in result.stderr


def test_usage_errors(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["batch", "run", "-o", str(tmp_path / "o.jsonl")])
    assert result.exit_code == 2 and "-i INPUT or --dataset" in result.stderr
    result = CliRunner().invoke(
        cli, ["batch", "run", "-i", str(tmp_path / "missing.jsonl"), "-o", str(tmp_path / "o")]
    )
    assert result.exit_code == 1 and "no such input file" in result.stderr


def test_no_token_for_the_router_fails_before_anything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The default router is a Hugging Face host: without a token it could only say 401.
    # (HF_HOME is a temporary folder here: no saved login is found.)
    monkeypatch.delenv("HF_ROUTER_URL")
    source = write_jsonl(tmp_path / "in.jsonl", rows(2))
    result = CliRunner().invoke(cli, batch_args(source, tmp_path / "out.jsonl"))
    assert result.exit_code == 1 and "No Hugging Face token found" in result.stderr
    assert not (tmp_path / "out.jsonl").exists()
