"""The gateway's config file and model resolution, in-process (no server started)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hfinfer.errors import InvalidRequestError
from hfinfer.server.config import ServerConfig, load_config
from hfinfer.server.errors import EdgeError
from hfinfer.server.gateway import Gateway
from hfinfer.server.resolve import resolve_model


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "serve.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_full_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATE_KEY", "sk-from-env")
    config = load_config(
        write(
            tmp_path,
            """
[server]
api_key_env = "GATE_KEY"
models = ["org/a"]
max_tokens = 100
[models.fast]
use = ["org/a:cerebras", "box:llama"]
[upstreams.box]
api_base = "http://127.0.0.1:9/"
route = "tgi"
api_key = "k"
models = ["llama"]
""",
        )
    )
    assert config.api_key == "sk-from-env" and config.max_tokens == 100
    assert config.models == ("org/a",)
    assert config.upstreams["box"].api_base == "http://127.0.0.1:9"
    assert "k" not in repr(config.upstreams["box"]) and "sk-from" not in repr(config)
    gateway = Gateway(config)
    targets = resolve_model(gateway, "fast")
    assert [(t.upstream, t.model) for t in targets] == [("router", "org/a:cerebras"),
                                                        ("box", "llama")]  # fmt: skip
    assert [(t.upstream, t.model) for t in resolve_model(gateway, "llama")] == [("box", "llama")]
    assert resolve_model(gateway, "org/a:fastest")[0].upstream == "router"
    with pytest.raises(EdgeError) as outside:
        resolve_model(gateway, "org/b")
    assert outside.value.status == 404
    with pytest.raises(EdgeError):
        resolve_model(gateway, "box:not-listed")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[server]\nport_number = 1\n", "port_number"),
        ("[serverr]\n", "serverr"),
        ("[models.x]\nuse = ['nobox:m']\n", r"no \[upstreams\.nobox\]"),
        ("[models.x]\nuse = 'org/m'\n", "list of names"),
        ("[upstreams.u]\nroute = 'tgi'\n", "api_base"),
        ("[upstreams.u]\napi_base = 'http://127.0.0.1:9'\nroute = 'grpc'\n", "route"),
        ("[upstreams.u]\napi_base = 'http://127.0.0.1:9'\napi_key_env = 'NOPE_NOT_SET'\n",
         "NOPE_NOT_SET"),
        ("not toml = = =", "Cannot read"),
    ],
)  # fmt: skip
def test_config_errors_name_the_problem(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(InvalidRequestError, match=message):
        load_config(write(tmp_path, text))


def test_exposure_rules() -> None:
    ServerConfig().check_exposure()  # loopback: fine without a key
    ServerConfig(host="gateway.invalid", api_key="k").check_exposure()
    ServerConfig(host="gateway.invalid", insecure_no_auth=True).check_exposure()
    with pytest.raises(InvalidRequestError, match="--insecure-no-auth"):
        ServerConfig(host="gateway.invalid").check_exposure()


def test_options_override_the_file(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "[server]\nmax_tokens = 5\nport = 9000\n"))
    changed = config.with_options(max_tokens=7, port=None, models=["a", "b"])
    assert (changed.max_tokens, changed.port, changed.models) == (7, 9000, ("a", "b"))
