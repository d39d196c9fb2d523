"""``hfinfer models``: the router's catalogue (what chat uses), one model's details,
and the default model, run as a subprocess against the local router."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from cliproc import catalogue_entry, router_for_cli, run
from hfserver import Reply
from routerserver import FakeRouter, mapping

CHAT = "/v1/chat/completions"


@pytest.fixture
def router(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeRouter]:
    with router_for_cli(monkeypatch) as server:
        seeing = catalogue_entry("org/vision", novita=(0.1, 0.3), groq=None)
        seeing["architecture"] = {"input_modalities": ["text", "image"]}
        server.router_models.append(seeing)
        server.router_models.append(catalogue_entry("zeta/big", cerebras=(1.0, 2.0)))
        yield server


def test_models_lists_the_router_catalogue(router: FakeRouter) -> None:
    result = run("models")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["MODEL", "PROVIDERS", "CONTEXT"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert set(rows) == {"org/chat", "org/vision", "zeta/big"}
    assert rows["org/chat"][1:] == ["1", "32k", "$0.2/0.6", "(together)"]
    assert rows["org/vision"][1:] == ["2", "32k", "$0.1/0.3", "(novita)"]


def test_models_filters_and_json(router: FakeRouter) -> None:
    searched = run("models", "--search", "ZETA")
    assert [line.split()[0] for line in searched.stdout.splitlines()[1:]] == ["zeta/big"]
    vision = json.loads(run("models", "--task", "image-text-to-text", "--json").stdout)
    assert [m["id"] for m in vision] == ["org/vision"]
    offers = {o["provider"]: o for o in vision[0]["providers"]}
    assert offers["novita"]["input_price"] == 0.1 and offers["groq"]["input_price"] is None
    assert offers["novita"]["context_length"] == 32768
    everything = json.loads(run("models", "--json").stdout)
    assert len(everything) == 3


def test_models_when_the_router_fails(router: FakeRouter) -> None:
    for _ in range(6):
        router.script("GET", "/v1/models", Reply(500, {}, b"down"))
    result = run("models", env={"HFINFER_MAX_RETRIES": "0"})
    assert result.returncode == 1
    assert result.stderr.startswith("Error: ") and "Traceback" not in result.stderr


def test_models_info(router: FakeRouter) -> None:
    router.models["org/chat"]["inferenceProviderMapping"] = mapping(
        together="conversational", nebius=("conversational", "staging")
    )
    router.models["org/chat"]["gated"] = "manual"
    router.models["org/chat"]["config"]["tokenizer_config"]["chat_template"] = (
        "{% for m in messages %}{{ m.content }}{% endfor %}"
    )
    result = run("models", "info", "org/chat")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "org/chat  (pipeline tag: text-generation)" in out
    assert "tasks: conversational" in out and "gated: yes (manual)" in out
    assert "template: chat_template" in out
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.startswith("  ")}
    together, nebius = rows["together"], rows["nebius"]
    assert together[1:4] == ["conversational", "live", "hfinfer:"]
    assert together[5:] == ["together/m", "32768", "$0.2/0.6"]
    assert nebius[1:4] == ["conversational", "staging", "hfinfer:"]
    assert nebius[5:] == ["nebius/m", "-", "-"]
    data = json.loads(run("models", "info", "org/chat", "--json").stdout)
    assert data["task"] == "text-generation" and data["gated"] == "manual"
    assert {p["provider"]: p["status"] for p in data["providers"]} == {
        "together": "live",
        "nebius": "staging",
    }


def test_models_info_for_an_unknown_model(router: FakeRouter) -> None:
    result = run("models", "info", "org/nothing")
    assert result.returncode == 1
    assert "org/nothing" in result.stderr and "Traceback" not in result.stderr


def test_default_model(router: FakeRouter) -> None:
    router.add_chat_model("org/other", ["Hola"])
    assert run("models", "default").stdout.strip()  # the route's own default
    saved = run("models", "default", "org/other")
    assert saved.returncode == 0
    assert run("models", "default").stdout.strip() == "org/other"
    assert run("chat", "Hi").stdout == "Hola\n"
    from_env = run("chat", "Hi", env={"HFINFER_MODEL": "org/chat"})
    assert from_env.stdout == "Bonjour !\n"
    assert run("models", "default", env={"HFINFER_MODEL": "org/chat"}).stdout.strip() == "org/chat"
    assert run("chat", "-m", "org/chat", "Hi", env={"HFINFER_MODEL": "org/other"}).stdout == (
        "Bonjour !\n"
    )
    bodies = [r.json()["model"] for r in router.requests if r.path == CHAT]
    assert bodies == ["org/other", "org/chat", "org/chat"]
    assert run("models", "default", "--clear").returncode == 0
    assert run("models", "default").stdout.strip() != "org/other"


def test_models_of_another_task_come_from_the_hub(router: FakeRouter) -> None:
    router.model_lists["text-to-image"] = [
        {
            "id": "pix/flux",
            "inferenceProviderMapping": [
                {"provider": "fal-ai", "status": "live", "task": "text-to-image"},
                {"provider": "replicate", "status": "staging", "task": "text-to-image"},
            ],
        },
        {"id": "pix/other", "inferenceProviderMapping": []},
    ]
    result = run("models", "--task", "text-to-image")
    assert result.returncode == 0, result.stderr
    rows = [line.split(None, 1) for line in result.stdout.splitlines()]
    assert rows == [["MODEL", "PROVIDERS (live)"], ["pix/flux", "fal-ai"], ["pix/other", "-"]]
    asked = [r for r in router.requests if r.path == "/api/models"][-1]
    query = dict(asked.query)
    assert query["pipeline_tag"] == "text-to-image" and query["inference_provider"] == "all"
    data = json.loads(run("models", "--task", "text-to-image", "--json").stdout)
    assert data[0]["providers"][1] == {
        "provider": "replicate",
        "status": "staging",
        "task": "text-to-image",
    }
    empty = run("models", "--task", "text-to-speech")
    assert empty.returncode == 0 and "no text-to-speech model" in empty.stderr
