"""The command line: the answer on stdout, the rest on stderr, clean exit codes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from hfinfer.cli.main import cli
from hfserver import FakeHF, Reply, json_reply, running_in_thread, stream_reply, tgi_events
from routerserver import FakeRouter, chat_stream, chunk, clear_router_caches


@pytest.fixture
def router_sync(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeRouter]:
    """The router's routes on a loop in a thread; no inference base is configured,
    so ``hfinfer chat`` takes the router, as on a fresh machine."""
    server = FakeRouter()
    server.add_chat_model("org/chat", ["Bonjour", " !"])
    with running_in_thread(server):
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        monkeypatch.setenv("HF_ROUTER_URL", server.url)
        monkeypatch.delenv("HFINFER_API_BASE")
        clear_router_caches()
        yield server
        clear_router_caches()


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_chat_streams_to_stdout(hf_sync: FakeHF) -> None:
    code, out, err = run("chat", "Say hello", "--model", "org/m", "--system", "Be brief")
    assert code == 0, err
    assert out == "Hello world!\n"
    sent = hf_sync.last("POST", "/models/org/m").json()
    assert "Be brief" in sent["inputs"] and "Say hello" in sent["inputs"]


def test_chat_api_base_option(hf_sync: FakeHF, monkeypatch) -> None:
    monkeypatch.setenv("HFINFER_API_BASE", "http://127.0.0.1:9")
    code, out, _ = run("chat", "Hi", "-m", "org/m", "--api-base", hf_sync.url, "--max-tokens", "5")
    assert code == 0 and out == "Hello world!\n"
    assert hf_sync.last("POST", "/models/org/m").json()["parameters"]["max_new_tokens"] == 5


def test_chat_json(hf_sync: FakeHF) -> None:
    code, out, _ = run("chat", "Hi", "-m", "org/m", "--json")
    assert code == 0
    data = json.loads(out)
    assert (data["text"], data["reasoning"]) == ("Hello world!", None)
    assert data["finish_reason"] == "stop"
    assert data["usage"] == {"prompt_tokens": 7, "completion_tokens": 4, "total_tokens": 11}
    assert (data["route"], data["error"], data["tool_calls"]) == ("tgi", None, [])


def test_chat_error_is_one_line_and_exit_1(hf_sync: FakeHF) -> None:
    code, out, err = run("chat", "Hi", "-m", "org/missing")
    assert code == 1 and out == ""
    assert err.startswith("error: Model 'org/missing' does not exist") and "Traceback" not in err


def test_chat_keeps_streamed_text_when_the_stream_breaks(hf_sync: FakeHF) -> None:
    events = tgi_events(["Partial", " answer"])[:2]  # no final event
    hf_sync.script("POST", "/models/org/m", stream_reply(events))
    code, out, err = run("chat", "Hi", "-m", "org/m")
    assert code == 1
    assert out == "Partial answer\n"
    assert "ended before its final event, after 2 tokens" in err


def test_chat_messages_file(hf_sync: FakeHF, tmp_path: Path) -> None:
    path = tmp_path / "conversation.json"
    path.write_text(
        json.dumps([{"role": "user", "content": "One"}, {"role": "assistant", "content": "Two"}])
    )
    code, _, _ = run("chat", "Three", "-m", "org/m", "--messages", str(path))
    assert code == 0
    inputs = hf_sync.last("POST", "/models/org/m").json()["inputs"]
    assert inputs.index("One") < inputs.index("Two") < inputs.index("Three")


def test_image_writes_file(hf_sync: FakeHF, tmp_path: Path) -> None:
    from hfserver import PNG_1PX

    code, out, err = run(
        "image",
        "a red dot",
        "-m",
        "org/img",
        "-o",
        str(tmp_path / "dot"),
        "--seed",
        "9",
        "--aspect-ratio",
        "16:9",
    )
    assert code == 0, err
    assert out.strip() == str(tmp_path / "dot.png")
    assert (tmp_path / "dot.png").read_bytes() == PNG_1PX
    assert hf_sync.last("POST", "/models/org/img").json()["parameters"] == {
        "seed": 9,
        "width": 1024,
        "height": 576,
    }
    assert "seed 9" in err


def test_image_on_a_text_model_says_so(hf_sync: FakeHF, tmp_path: Path) -> None:
    code, _, err = run("image", "x", "-m", "org/m", "-o", str(tmp_path / "x"))
    assert code == 1 and "not an image" in err


def test_prompt_prints_the_exact_prompt(hf_sync: FakeHF) -> None:
    hf_sync.models["org/m"]["config"]["tokenizer_config"]["chat_template"] = (
        "{% for m in messages %}[{{ m.role }}]{{ m.content }}{% endfor %}"
        "{% if add_generation_prompt %}[assistant]{% endif %}"
    )
    code, out, err = run("prompt", "--model", "org/m", "--system", "S", "Hi")
    assert code == 0
    assert out == "[system]S[user]Hi[assistant]"
    assert "org/m: chat_template (model info)" in err


def test_prompt_falls_back_to_family_and_says_so(hf_sync: FakeHF) -> None:
    code, out, err = run("prompt", "-m", "org/m", "Hi")
    assert code == 0
    assert out == (
        "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi\n<|eot_id|>\n"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    )
    assert "org/m: family: llama" in err


def test_no_prompt_is_a_usage_error() -> None:
    code, _, err = run("chat")
    assert code == 2 and "PROMPT" in err


def test_version() -> None:
    code, out, _ = run("--version")
    assert code == 0 and "hfinfer" in out


def test_html_error_from_cli(hf_sync: FakeHF) -> None:
    hf_sync.script(
        "POST", "/models/org/m", Reply(200, {"content-type": "text/html"}, b"<html>blocked</html>")
    )
    code, _, err = run("chat", "Hi", "-m", "org/m")
    assert code == 1 and "HTML page" in err


def test_rate_limit_from_cli(hf_sync: FakeHF) -> None:
    for _ in range(5):
        hf_sync.script(
            "POST",
            "/models/org/m",
            json_reply({"error": "Rate limit reached"}, 429, **{"retry-after": "0"}),
        )
    code, _, err = run("chat", "Hi", "-m", "org/m")
    assert code == 1 and "Rate limit" in err


def test_chat_takes_the_router_by_default(router_sync: FakeRouter) -> None:
    code, out, err = run("chat", "Salut", "-m", "org/chat", "--provider", "together")
    assert code == 0, err
    assert out == "Bonjour !\n"
    body = router_sync.last("POST", "/v1/chat/completions").json()
    assert body["model"] == "org/chat:together" and body["stream"] is True
    assert body["messages"] == [{"role": "user", "content": "Salut"}]


def test_chat_router_reasoning_goes_to_stderr(router_sync: FakeRouter) -> None:
    router_sync.script(
        "POST",
        "/v1/chat/completions",
        chat_stream(
            [chunk(reasoning="Thinking hard."), chunk("Answer."), chunk("", finish="stop")]
        ),
    )
    code, out, err = run("chat", "Why?", "-m", "org/chat")
    assert code == 0
    assert out == "Answer.\n" and "Thinking hard." in err


def test_chat_router_json_and_no_stream(router_sync: FakeRouter) -> None:
    code, out, _ = run("chat", "Salut", "-m", "org/chat", "--json", "--no-stream")
    assert code == 0
    data = json.loads(out)
    assert (data["text"], data["reasoning"], data["finish_reason"]) == ("Bonjour !", None, "stop")
    assert data["usage"] == {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}
    assert data["options"]["stream"] is False and data["error"] is None


def test_chat_router_unserved_model_is_a_clear_error(router_sync: FakeRouter) -> None:
    code, out, err = run("chat", "Salut", "-m", "org/unknown")
    assert code == 1 and out == "" and "Traceback" not in err


def test_image_through_the_router_by_default(router_sync: FakeRouter, tmp_path: Path) -> None:
    from hfserver import PNG_1PX

    router_sync.add_image_model("org/img")
    router_sync.models["org/img"]["inferenceProviderMapping"] = {
        "hf-inference": {"status": "live", "providerId": "org/img", "task": "text-to-image"}
    }
    code, out, err = run(
        "image", "a red dot", "-m", "org/img", "-o", str(tmp_path / "dot"), "--seed", "4"
    )
    assert code == 0, err
    assert out.strip() == str(tmp_path / "dot.png")
    assert (tmp_path / "dot.png").read_bytes() == PNG_1PX
    sent = router_sync.last("POST", "/hf-inference/models/org/img").json()
    assert sent["inputs"] == "a red dot" and sent["parameters"]["seed"] == 4
