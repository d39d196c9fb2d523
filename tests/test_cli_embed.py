"""``hfinfer embed`` and ``hfinfer models info``; AsyncClient.model_info."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from hfinfer import AsyncClient, ModelInfo, ProviderMapping
from hfinfer.cli.main import cli
from hfinfer.errors import ModelNotFoundError
from hfserver import Reply, json_reply, running_in_thread
from routerserver import FakeRouter, clear_router_caches, mapping, serve_router

PIPELINE = "/hf-inference/models/org/emb/pipeline/feature-extraction"


def vectors_for(request: Any) -> Reply:
    return json_reply([[float(len(t)), 1.0] for t in request.json()["inputs"]])


@pytest.fixture
def router_sync(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeRouter]:
    server = FakeRouter()
    server.models["org/emb"] = {
        "id": "org/emb",
        "pipeline_tag": "sentence-similarity",
        "inferenceProviderMapping": {
            "hf-inference": {
                "status": "live",
                "providerId": "org/emb",
                "task": "feature-extraction",
            },
            "nebius": {"status": "live", "providerId": "n/emb", "task": "feature-extraction"},
        },
    }
    server.image_routes["hf-inference"] = vectors_for
    with running_in_thread(server):
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        monkeypatch.setenv("HF_ROUTER_URL", server.url)
        monkeypatch.setenv("HF_TOKEN", "hf_test")
        monkeypatch.delenv("HFINFER_API_BASE")
        clear_router_caches()
        yield server
        clear_router_caches()


def run(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), input=stdin)
    return result.exit_code, result.stdout, result.stderr


def test_embed_prints_one_vector_per_line(router_sync: FakeRouter) -> None:
    code, out, err = run("embed", "-m", "org/emb", "ab", "abcd")
    assert code == 0, err
    assert [json.loads(line) for line in out.splitlines()] == [[2.0, 1.0], [4.0, 1.0]]


def test_embed_reads_a_file_and_batches(router_sync: FakeRouter, tmp_path: Path) -> None:
    lines = tmp_path / "in.txt"
    lines.write_text("a\n\nbb\nccc\n", encoding="utf-8")
    code, out, err = run("embed", "-m", "org/emb", "--file", str(lines), "--batch-size", "2")
    assert code == 0, err
    assert [json.loads(line)[0] for line in out.splitlines()] == [1.0, 2.0, 3.0]
    assert router_sync.count("POST", PIPELINE) == 2


def test_embed_json_and_stdin(router_sync: FakeRouter) -> None:
    code, out, err = run("embed", "-m", "org/emb", "--json", "-f", "-", stdin="xyz\n")
    assert code == 0, err
    data = json.loads(out)
    assert data["vectors"] == [[3.0, 1.0]] and data["provider"] == "hf-inference"
    assert data["model"] == "org/emb" and data["dimensions"] == 2


def test_embed_errors_are_one_line(router_sync: FakeRouter) -> None:
    code, out, err = run("embed", "-m", "org/emb", "x", "--dimensions", "8")
    assert code == 1 and out == "" and "dimensions" in err and "Traceback" not in err
    code, _, err = run("embed", "-m", "org/emb")
    assert code == 2 and "TEXTS" in err


def test_models_info(router_sync: FakeRouter) -> None:
    code, out, err = run("models", "info", "org/emb")
    assert code == 0, err
    assert "org/emb  (pipeline tag: sentence-similarity)" in out
    assert "tasks: feature-extraction" in out
    rows = [line.split() for line in out.splitlines() if line.startswith("  ")]
    assert rows[0][:5] == ["hf-inference", "feature-extraction", "live", "hfinfer:", "yes"]
    assert rows[1][:5] == ["nebius", "feature-extraction", "live", "hfinfer:", "no"]
    code, out, _ = run("models", "info", "org/emb", "--json")
    data = json.loads(out)
    assert data["tasks"] == ["feature-extraction"] and data["providers"][1]["hfinfer"] is False


def test_models_info_of_a_missing_model(router_sync: FakeRouter) -> None:
    code, out, err = run("models", "info", "org/none")
    assert code == 1 and out == "" and "org/none" in err


def test_models_still_lists(router_sync: FakeRouter) -> None:
    # `hfinfer models` is the router's catalogue (issue 15's models command group).
    router_sync.router_models.append({"id": "org/emb", "providers": [{"provider": "nebius"}]})
    code, out, _ = run("models")
    assert code == 0 and "org/emb" in out.split()


async def test_client_model_info(monkeypatch: pytest.MonkeyPatch) -> None:
    async with serve_router(monkeypatch) as router:
        router.models["org/img"] = {
            "id": "org/img",
            "pipeline_tag": "text-to-image",
            "inferenceProviderMapping": mapping(
                replicate="text-to-image", hyperbolic="text-to-image"
            ),
        }
        found = await AsyncClient().model_info("org/img:replicate")
        tgi_side = await AsyncClient(api_base=router.url, route="tgi").model_info("org/img")
        with pytest.raises(ModelNotFoundError):
            await AsyncClient().model_info("org/nothing")
    assert isinstance(found, ModelInfo) and found == tgi_side
    assert found.tasks == ("text-to-image",)
    assert found.providers == (
        ProviderMapping("replicate", "text-to-image", "live", "replicate/m", True),
        ProviderMapping("hyperbolic", "text-to-image", "live", "hyperbolic/m", False),
    )


def test_embed_against_a_tei_server_of_ones_own(monkeypatch: pytest.MonkeyPatch) -> None:
    from hfserver import FakeHF

    server = FakeHF()
    server.script("POST", "/embed", json_reply([[0.25, 0.5]]))
    with running_in_thread(server):
        monkeypatch.delenv("HFINFER_API_BASE")
        code, out, err = run("embed", "-m", "any", "hi", "--api-base", server.url, "--route", "tgi")
    assert code == 0, err
    assert json.loads(out) == [0.25, 0.5]
    assert server.last("POST", "/embed").json() == {"inputs": ["hi"]}
