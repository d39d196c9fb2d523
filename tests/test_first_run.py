"""The README's first command on a fresh machine: no token, or no network.

The no-token and offline cases run the installed ``hfinfer`` script in a
subprocess, as a new user would. Nothing here reaches a real host: the
no-token runs send any request that would slip through to a proxy on a closed
port of 127.0.0.1, and the offline runs name ``.invalid`` hosts, which never
resolve.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from hfinfer.cli.main import cli
from hfinfer.config import ClientSettings, is_hugging_face_url, require_token
from hfinfer.errors import ConnectionError, MissingAuthError, NameResolutionError
from hfinfer.http.retry import RetryPolicy
from hfinfer.http.session import HttpClient
from hfserver import FakeHF, running_in_thread

HFINFER = Path(sys.executable).with_name("hfinfer")
#: Loose on purpose (a loaded 2-core machine): the point is "not seconds of retries".
QUICK = 5.0
CLOSED_PORT_PROXY = "http://127.0.0.1:9"


def run_hfinfer(*args: str, **env: str | None) -> tuple[int, str, str, float]:
    """Run the installed script with the test's (isolated) environment plus ``env``
    (``None`` removes a variable); no stdin, as in CI."""
    environment = dict(os.environ)
    for name, value in env.items():
        if value is None:
            environment.pop(name, None)
        else:
            environment[name] = value
    started = time.monotonic()
    done = subprocess.run(
        [str(HFINFER), *args],
        env=environment,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.returncode, done.stdout, done.stderr, time.monotonic() - started


def hugging_face_defaults(**env: str | None) -> dict[str, str | None]:
    """The defaults a fresh machine has (Hugging Face's hosts), with any request that
    would still go out sent to a closed local port instead."""
    return {
        "HF_ENDPOINT": None,
        "HF_ROUTER_URL": None,
        "HFINFER_API_BASE": None,
        "HFINFER_PROXY": CLOSED_PORT_PROXY,
        "HFINFER_MAX_RETRIES": "0",
        **env,
    }


# -- no token ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "host"),
    [
        pytest.param([], "router.huggingface.co", id="router-default"),
        pytest.param(["--route", "tgi"], "router.huggingface.co", id="hf-inference-default"),
        pytest.param(
            ["--api-base", "https://router.huggingface.co/hf-inference"],
            "router.huggingface.co",
            id="api-base",
        ),
        pytest.param(
            ["--route", "tgi", "-m", "https://abc.us-east-1.aws.endpoints.huggingface.cloud"],
            "abc.us-east-1.aws.endpoints.huggingface.cloud",
            id="inference-endpoint",
        ),
    ],
)
def test_no_token_is_one_line_before_any_request(args: list[str], host: str) -> None:
    hub = FakeHF()
    with running_in_thread(hub):
        code, out, err, took = run_hfinfer(
            "chat", "Hi", "-m", "org/m", *args, **hugging_face_defaults(HF_ENDPOINT=hub.url)
        )
    assert code == 1 and out == ""
    assert err.count("\n") == 1, err
    assert err.startswith(f"error: No Hugging Face token found, and {host} needs one"), err
    assert "--token" in err and "HF_TOKEN" in err and "hf auth login" in err
    assert hub.requests == []  # not even the Hub was asked
    assert took < QUICK


def test_image_without_a_token_is_one_line_before_any_request(tmp_path: Path) -> None:
    hub = FakeHF()
    with running_in_thread(hub):
        code, out, err, took = run_hfinfer(
            "image", "a lighthouse", "-m", "org/draws", "-o", str(tmp_path / "out.png"),
            **hugging_face_defaults(HF_ENDPOINT=hub.url),
        )  # fmt: skip
    assert code == 1 and out == "" and err.count("\n") == 1, err
    assert err.startswith("error: No Hugging Face token found"), err
    assert hub.requests == [] and not (tmp_path / "out.png").exists()
    assert took < QUICK


def test_token_file_of_hf_auth_login_is_enough(isolated_env: Path) -> None:
    (isolated_env / "token").write_text("hf_saved\n", encoding="utf-8")
    code, out, err, _ = run_hfinfer("chat", "Hi", "-m", "org/m", **hugging_face_defaults())
    # Past the token check: the request went to the (closed) proxy.
    assert code == 1 and out == ""
    assert "token" not in err.lower() and "proxy" in err, err


@pytest.mark.parametrize(
    "source", ["api_key", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH", "HF_HOME"]
)
def test_every_token_source_passes_the_check(
    source: str, isolated_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = "https://router.huggingface.co/v1"
    with pytest.raises(MissingAuthError):
        require_token(None, url)
    api_key = "hf_arg" if source == "api_key" else None
    if source in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        monkeypatch.setenv(source, "hf_env")
    elif source == "HF_TOKEN_PATH":
        (tmp_path / "elsewhere").write_text("hf_file", encoding="utf-8")
        monkeypatch.setenv("HF_TOKEN_PATH", str(tmp_path / "elsewhere"))
    elif source == "HF_HOME":
        (isolated_env / "token").write_text("hf_file", encoding="utf-8")
    require_token(api_key, url)


def test_other_servers_need_no_token() -> None:
    require_token(None, "http://127.0.0.1:8080")
    require_token(None, "https://my-tgi.example.org/generate")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://huggingface.co/api/models/x", True),
        ("https://router.huggingface.co/v1", True),
        ("https://hf.co", True),
        ("https://abc.endpoints.huggingface.cloud", True),
        ("https://ROUTER.HuggingFace.co./v1", True),
        ("https://huggingface.co.evil.example", False),
        ("https://endpoints.huggingface.cloud.evil.example", False),
        ("https://nothuggingface.co", False),
        ("http://127.0.0.1:9", False),
        ("not a url", False),
    ],
)
def test_hugging_face_hosts_are_matched_on_a_dot(url: str, expected: bool) -> None:
    assert is_hugging_face_url(url) is expected


def test_token_option_is_the_hf_cli_spelling_of_api_key(hf_sync: FakeHF) -> None:
    result = CliRunner().invoke(cli, ["chat", "Hi", "-m", "org/m", "--token", "hf_cli"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "Hello world!\n"
    assert hf_sync.last("POST", "/models/org/m").headers["authorization"] == "Bearer hf_cli"


# -- no network -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "env", "host"),
    [
        # A server of the user's own: the Hub is not asked, the server is.
        pytest.param(["--api-base", "http://tgi.invalid"], {}, "tgi.invalid", id="own-server"),
        pytest.param([], {"HF_ROUTER_URL": "http://router.invalid"}, "hub.invalid", id="router"),
        pytest.param(["--route", "tgi", "-m", "http://tgi.invalid"], {}, "tgi.invalid", id="url"),
    ],
)
def test_unknown_host_is_reported_once_and_not_retried(
    args: list[str], env: dict[str, str], host: str
) -> None:
    code, out, err, took = run_hfinfer(
        "chat",
        "Hi",
        "-m",
        "org/m",
        *args,
        HF_TOKEN="hf_test",
        HF_ENDPOINT="http://hub.invalid",
        HFINFER_API_BASE=None,
        HFINFER_MAX_RETRIES=None,  # the default retries: a name failure must skip them
        **env,
    )
    assert code == 1 and out == ""
    assert err.count("\n") == 1, err
    assert err.startswith(f"error: Could not find the host {host} ("), err
    assert took < QUICK


async def test_name_resolution_failure_is_not_retried(caplog: pytest.LogCaptureFixture) -> None:
    settings = ClientSettings.resolve(api_key="hf_test")
    caplog.set_level(logging.INFO, logger="hfinfer.http.session")
    async with HttpClient(settings, retry=RetryPolicy(max_retries=3)) as http:
        with pytest.raises(NameResolutionError) as caught:
            await http.get_json("http://hub.invalid/api/models/org/m")
    assert caught.value.host == "hub.invalid"
    assert isinstance(caught.value, ConnectionError)
    assert "\n" not in str(caught.value) and "hf_test" not in str(caught.value)
    assert not [r for r in caplog.records if r.getMessage().startswith("retrying")]
    assert not RetryPolicy().is_retryable(caught.value)
