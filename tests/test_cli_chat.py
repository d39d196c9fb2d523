"""``hfinfer chat`` one-shot, run as a subprocess against a local router: prompts from
anywhere, the log, continuing a conversation, output for people and for scripts."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cliproc import PRICES, command, log_rows, router_for_cli, run
from hfserver import Reply
from routerserver import FakeRouter, chat_stream, chunk, openai_error

CHAT = "/v1/chat/completions"


@pytest.fixture
def router(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeRouter]:
    with router_for_cli(monkeypatch) as server:
        yield server


def sent(router: FakeRouter, index: int = -1) -> dict:
    return [r for r in router.requests if r.path == CHAT][index].json()


# -- prompts from anywhere ---------------------------------------------------------


def test_piped_text_comes_before_the_prompt(router: FakeRouter) -> None:
    result = run("chat", "-m", "org/chat", "summarize this", input="notes\nmore notes\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Bonjour !\n"  # piped: the answer and nothing else
    assert sent(router)["messages"] == [
        {"role": "user", "content": "notes\nmore notes\n\nsummarize this"}
    ]


def test_piped_text_alone_is_the_prompt(router: FakeRouter) -> None:
    result = run("chat", "-m", "org/chat", input="just notes\n")
    assert result.returncode == 0, result.stderr
    assert sent(router)["messages"] == [{"role": "user", "content": "just notes"}]


def test_chat_is_the_default_command_and_files_are_added(
    router: FakeRouter, tmp_path: Path
) -> None:
    (tmp_path / "a.txt").write_text("alpha", encoding="utf-8")
    (tmp_path / "b.txt").write_text("beta", encoding="utf-8")
    a, b = str(tmp_path / "a.txt"), str(tmp_path / "b.txt")
    result = run("-f", a, "Hi", "-m", "org/chat", "-f", b)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Bonjour !\n"
    assert sent(router)["messages"][-1]["content"] == "alpha\n\nbeta\n\nHi"


def test_no_prompt_and_no_terminal_is_a_usage_error(router: FakeRouter) -> None:
    result = run("chat", "-m", "org/chat")
    assert result.returncode == 2
    assert "give a PROMPT" in result.stderr and result.stdout == ""


def test_a_missing_file_is_a_clear_usage_error(router: FakeRouter, tmp_path: Path) -> None:
    result = run("chat", "-f", str(tmp_path / "nope.txt"), "Hi")
    assert result.returncode == 2
    assert "cannot read" in result.stderr and "Traceback" not in result.stderr


# -- the log -------------------------------------------------------------------------


def test_each_exchange_is_logged_with_cost(router: FakeRouter, isolated_env: Path) -> None:
    result = run("chat", "-m", "org/chat", "--provider", "together", "-u", "-s", "Be kind", "Salut")
    assert result.returncode == 0, result.stderr
    [row] = log_rows(isolated_env)
    assert (row["status"], row["output"], row["prompt"]) == ("done", "Bonjour !", "Salut")
    assert (row["model"], row["provider"], row["route"]) == ("org/chat", "together", "router")
    assert (row["system"], row["finish_reason"]) == ("Be kind", "stop")
    assert (row["prompt_tokens"], row["completion_tokens"]) == (5, 3)
    assert row["cost_usd"] == pytest.approx((5 * PRICES[0] + 3 * PRICES[1]) / 1e6)
    assert row["ttft"] is not None and row["duration"] >= row["ttft"] >= 0
    # -u: the numbers on stderr, stdout untouched
    assert result.stdout == "Bonjour !\n"
    assert "5 input + 3 output tokens, $0.0000028 (together)" in result.stderr


def test_continue_resends_the_conversation(router: FakeRouter, isolated_env: Path) -> None:
    assert run("chat", "-m", "org/chat", "-s", "Be brief", "First").returncode == 0
    assert run("chat", "-m", "org/chat", "Unrelated").returncode == 0
    first_cid = log_rows(isolated_env)[0]["conversation_id"]
    result = run("chat", "-c", "Next")
    assert result.returncode == 0, result.stderr
    assert sent(router)["model"] == "org/chat"  # the conversation's model
    assert sent(router)["messages"] == [
        {"role": "user", "content": "Unrelated"},
        {"role": "assistant", "content": "Bonjour !"},
        {"role": "user", "content": "Next"},
    ]
    result = run("chat", "--cid", first_cid, "Again")
    assert result.returncode == 0, result.stderr
    assert sent(router)["messages"] == [
        {"role": "system", "content": "Be brief"},
        {"role": "user", "content": "First"},
        {"role": "assistant", "content": "Bonjour !"},
        {"role": "user", "content": "Again"},
    ]
    rows = log_rows(isolated_env)
    assert [r["conversation_id"] for r in rows].count(first_cid) == 2


def test_an_unknown_conversation_is_a_clear_error(router: FakeRouter) -> None:
    result = run("chat", "--cid", "nope", "Hi")
    assert result.returncode == 1
    assert "no conversation nope" in result.stderr and "Traceback" not in result.stderr
    assert not [r for r in router.requests if r.path == CHAT]


def test_logs_commands(router: FakeRouter, isolated_env: Path) -> None:
    path = run("logs", "path")
    assert path.stdout.strip() == str(isolated_env / "hfinfer" / "logs.db")
    assert run("logs", "list", "--json").stdout.strip() == "[]"
    for prompt in ("about primes", "about rivers", "about mountains"):
        assert run("chat", "-m", "org/chat", prompt).returncode == 0
    listed = json.loads(run("logs", "list", "--json", "-n", "2").stdout)
    assert [t["prompt"] for t in listed] == ["about rivers", "about mountains"]
    found = json.loads(run("logs", "list", "--json", "-q", "RIVERS").stdout)
    assert [t["prompt"] for t in found] == ["about rivers"]
    cid = found[0]["conversation_id"]
    in_conversation = json.loads(run("logs", "list", "--json", "--cid", cid).stdout)
    assert [t["prompt"] for t in in_conversation] == ["about rivers"]
    text = run("logs", "list", "-n", "1").stdout
    assert "about mountains" in text and "Bonjour !" in text and "org/chat" in text
    # off: nothing more is logged, until on
    assert run("logs", "off").returncode == 0
    assert run("chat", "-m", "org/chat", "while off").returncode == 0
    assert run("logs", "on").returncode == 0
    assert run("chat", "-m", "org/chat", "--no-log", "not this one").returncode == 0
    assert run("chat", "-m", "org/chat", "nor this", env={"HFINFER_NO_LOG": "1"}).returncode == 0
    assert len(log_rows(isolated_env)) == 3


def test_logs_db_from_the_environment(router: FakeRouter, tmp_path: Path) -> None:
    target = tmp_path / "elsewhere" / "chat.db"
    result = run("chat", "-m", "org/chat", "Hi", env={"HFINFER_LOGS_DB": str(target)})
    assert result.returncode == 0
    with sqlite3.connect(target) as db:
        assert db.execute("SELECT output FROM turns").fetchall() == [("Bonjour !",)]


def test_a_corrupt_log_warns_once_and_chat_works(router: FakeRouter, isolated_env: Path) -> None:
    path = isolated_env / "hfinfer" / "logs.db"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"garbage, not sqlite " * 50)
    result = run("chat", "-m", "org/chat", "Hi")
    assert result.returncode == 0
    assert result.stdout == "Bonjour !\n"
    assert result.stderr.count("warning:") == 1 and "not an SQLite database" in result.stderr


def test_a_locked_log_warns_once_and_chat_works(router: FakeRouter, isolated_env: Path) -> None:
    assert run("chat", "-m", "org/chat", "first").returncode == 0
    holder = sqlite3.connect(isolated_env / "hfinfer" / "logs.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        result = run("chat", "-m", "org/chat", "second", timeout=120)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert result.returncode == 0 and result.stdout == "Bonjour !\n"
    assert result.stderr.count("warning:") == 1 and "locked" in result.stderr


# -- output for people and scripts ---------------------------------------------------


def test_reasoning_goes_to_stderr_and_can_be_hidden(router: FakeRouter) -> None:
    stream = [chunk(reasoning="Thinking hard."), chunk("Answer."), chunk("", finish="stop")]
    router.script("POST", CHAT, chat_stream(stream), chat_stream(stream))
    shown = run("chat", "-m", "org/chat", "Why?")
    assert shown.stdout == "Answer.\n" and "Thinking hard." in shown.stderr
    hidden = run("chat", "-m", "org/chat", "-R", "Why?")
    assert hidden.stdout == "Answer.\n" and "Thinking hard." not in hidden.stderr


def test_tool_calls_are_printed_and_in_json(router: FakeRouter, isolated_env: Path) -> None:
    call = {
        "index": 0,
        "id": "call_1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
    }
    stream = [chunk(None, tool_calls=[call]), chunk(None, finish="tool_calls")]
    router.script("POST", CHAT, chat_stream(stream), chat_stream(stream))
    result = run("chat", "-m", "org/chat", "Weather?")
    assert result.returncode == 0
    assert result.stdout == ""
    assert 'tool call: get_weather({"city": "Paris"})' in result.stderr
    data = json.loads(run("chat", "-m", "org/chat", "--json", "Weather?").stdout)
    assert data["tool_calls"] == [
        {
            "id": "call_1",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
        }
    ]
    assert data["finish_reason"] == "tool_calls" and data["error"] is None
    assert json.loads(log_rows(isolated_env)[0]["tool_calls"])[0]["function"]["name"] == (
        "get_weather"
    )


def test_json_is_one_object(router: FakeRouter) -> None:
    result = run("chat", "-m", "org/chat", "--json", "Salut")
    assert result.returncode == 0
    data = json.loads(result.stdout)
    assert data["text"] == "Bonjour !" and data["finish_reason"] == "stop"
    assert data["usage"]["prompt_tokens"] == 5 and data["error"] is None
    assert data["status"] == "done" and data["conversation_id"]


def test_json_on_a_broken_stream_has_the_partial_text_and_an_error(
    router: FakeRouter, isolated_env: Path
) -> None:
    router.script("POST", CHAT, chat_stream([chunk("Partial"), chunk(" answer")], done=False))
    result = run("chat", "-m", "org/chat", "--json", "Hi")
    assert result.returncode == 1
    data = json.loads(result.stdout)  # one object, nothing else on stdout
    assert data["text"] == "Partial answer"
    assert data["error"]["type"] == "StreamError" and data["status"] == "error"
    assert ".partial_text" not in data["error"]["message"]
    [row] = log_rows(isolated_env)
    assert (row["status"], row["output"]) == ("error", "Partial answer")


def test_json_when_nothing_arrived(router: FakeRouter) -> None:
    result = run("chat", "-m", "org/unknown", "--json", "Hi")
    assert result.returncode == 1
    data = json.loads(result.stdout)
    assert data["text"] == "" and data["error"]["type"] == "ModelNotFoundError"
    assert "org/unknown" in data["error"]["message"]


def test_a_broken_stream_keeps_the_text_in_plain_words(router: FakeRouter) -> None:
    router.script("POST", CHAT, chat_stream([chunk("Partial"), chunk(" answer")], done=False))
    result = run("chat", "-m", "org/chat", "Hi")
    assert result.returncode == 1
    assert result.stdout == "Partial answer\n"
    assert result.stderr.startswith("error: ") and ".partial_text" not in result.stderr
    assert "Traceback" not in result.stderr


def test_auth_errors_speak_of_options_not_arguments(router: FakeRouter) -> None:
    router.script("POST", CHAT, openai_error("Invalid credentials", 401))
    result = run("chat", "-m", "org/chat", "Hi")
    assert result.returncode == 1
    assert "--token" in result.stderr and "api_key" not in result.stderr


def test_options_schema_and_token_reach_the_request(router: FakeRouter, tmp_path: Path) -> None:
    schema = tmp_path / "schema.json"
    schema.write_text('{"type": "object", "properties": {"n": {"type": "integer"}}}')
    result = run(
        "chat", "-m", "org/chat", "Hi",
        "-o", "top_p", "0.5", "-o", "stop", '["x"]', "-o", "reasoning_effort", "low",
        "--schema", str(schema), "--token", "hf_cli_token",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    body = sent(router)
    assert (body["top_p"], body["stop"], body["reasoning_effort"]) == (0.5, ["x"], "low")
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {
            "name": "answer",
            "schema": {"type": "object", "properties": {"n": {"type": "integer"}}},
        },
    }
    request = [r for r in router.requests if r.path == CHAT][-1]
    assert request.headers["authorization"] == "Bearer hf_cli_token"


def test_verbose_anywhere_on_the_line(router: FakeRouter) -> None:
    after = run("chat", "-m", "org/chat", "Hi", "-vv", "--token", "hf_secret")
    before = run("-vv", "chat", "-m", "org/chat", "--token", "hf_secret", "Hi")
    for result in (after, before):
        assert result.returncode == 0 and result.stdout == "Bonjour !\n"
        assert "DEBUG hfinfer" in result.stderr
        assert "hf_secret" not in result.stderr  # the token is redacted in the debug log


def test_ctrl_c_exits_130_and_keeps_the_text(router: FakeRouter, isolated_env: Path) -> None:
    words = [chunk(f"word{i} ") for i in range(150)] + [chunk("", finish="stop")]
    router.script("POST", CHAT, chat_stream(words, delay=0.2))
    process = subprocess.Popen(
        command("chat", "-m", "org/chat", "Count"),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.read(6)  # the answer has begun
        assert first == "word0 "
        deadline = time.monotonic() + 20
        while not log_rows(isolated_env) and time.monotonic() < deadline:
            time.sleep(0.05)  # the row is written when the first token arrives
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 130
    assert "interrupted" in err and "Traceback" not in err
    [row] = log_rows(isolated_env)
    assert row["status"] == "interrupted"
    assert row["output"].startswith("word0 ") and (first + out).startswith(row["output"].strip())


def test_status_and_retry_notes_stay_off_a_pipe(router: FakeRouter) -> None:
    router.script(
        "POST",
        CHAT,
        Reply(503, {"content-type": "application/json"}, b'{"error": "busy"}'),
    )
    result = run("chat", "-m", "org/chat", "Hi", env={"HFINFER_MAX_RETRIES": "2"})
    assert result.returncode == 0 and result.stdout == "Bonjour !\n"
    assert "retrying" not in result.stderr and "waiting" not in result.stderr


def test_schema_on_the_text_generation_route_is_a_grammar(tmp_path: Path) -> None:
    from hfserver import running_in_thread
    from ownserver import FakeTGI

    server = FakeTGI()
    with running_in_thread(server):
        result = run(
            "chat", "--api-base", server.url, "--route", "tgi",
            "--schema", '{"type": "object"}', "Hi",
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert result.stdout == "From TGI\n"
        parameters = server.last("POST", "/").json()["parameters"]
    assert parameters["grammar"] == {"type": "json", "value": {"type": "object"}}


def test_ctrl_c_under_json_still_prints_one_object(router: FakeRouter, isolated_env: Path) -> None:
    words = [chunk(f"word{i} ") for i in range(150)] + [chunk("", finish="stop")]
    router.script("POST", CHAT, chat_stream(words, delay=0.2))
    process = subprocess.Popen(
        command("chat", "-m", "org/chat", "--json", "Count"),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not log_rows(isolated_env) and time.monotonic() < deadline:
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 130
    data = json.loads(out)
    assert data["status"] == "interrupted" and data["error"]["type"] == "Interrupted"
    assert data["text"].startswith("word0 ")


def test_render_on_a_pipe_when_asked(router: FakeRouter) -> None:
    router.add_chat_model("org/md", ["Some ", "**bold**", " text"])
    rendered = run("chat", "-m", "org/md", "--render", "Hi", env={"TERM": "xterm-256color"})
    assert rendered.returncode == 0
    assert "**bold**" not in rendered.stdout and "\x1b[1mbold" in rendered.stdout
    plain = run("chat", "-m", "org/md", "Hi")
    assert plain.stdout == "Some **bold** text\n"


def test_continuing_needs_the_log(router: FakeRouter) -> None:
    fresh = run("chat", "-c", "-m", "org/chat", "Hi")
    assert fresh.returncode == 0 and fresh.stdout == "Bonjour !\n"
    assert "starting a new one" in fresh.stderr
    off = run("chat", "-c", "Hi", "--no-log")
    assert off.returncode == 2 and "the log, which is off" in off.stderr


def test_json_before_any_request_is_still_one_object(isolated_env: Path) -> None:
    # A fresh machine's router, no token: refused before anything is sent (a request
    # that went out anyway would meet a closed local port through the proxy).
    result = run(
        "chat", "--json", "-m", "org/chat", "Hi",
        env={"HFINFER_PROXY": "http://127.0.0.1:9", "HFINFER_MAX_RETRIES": "0"},
        unset=("HF_ROUTER_URL", "HFINFER_API_BASE", "HF_TOKEN"),
    )  # fmt: skip
    assert result.returncode == 1
    data = json.loads(result.stdout)
    assert data["text"] == "" and data["status"] == "error"
    assert data["error"]["type"] == "AuthenticationError"
    assert "No Hugging Face token found" in data["error"]["message"]
    assert result.stderr.count("\n") == 1


def test_a_server_of_ones_own_is_logged_with_what_answered(isolated_env: Path) -> None:
    from hfserver import running_in_thread
    from ownserver import FakeOpenAI

    server = FakeOpenAI()
    with running_in_thread(server):
        result = run("chat", "--api-base", server.url, "Hi", unset=("HFINFER_API_BASE",))
    assert result.returncode == 0, result.stderr
    assert result.stdout == "[tiny-llama] choice 0\n"
    [row] = log_rows(isolated_env)
    assert (row["model"], row["route"], row["status"]) == ("tiny-llama", "openai", "done")
