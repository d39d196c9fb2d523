"""``hfinfer chat`` on a terminal: the interactive session, under a pseudo-terminal."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest

from cliproc import command, log_rows, router_for_cli
from routerserver import FakeRouter, chat_stream, chunk

CHAT = "/v1/chat/completions"
TIMEOUT = 60  # generous: the machine is shared
TERMINAL = {"TERM": "xterm-256color", "COLUMNS": "100", "LINES": "40"}


@pytest.fixture
def router(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeRouter]:
    with router_for_cli(monkeypatch) as server:
        yield server


def bodies(router: FakeRouter) -> list[dict]:
    return [r.json() for r in router.requests if r.path == CHAT]


def session(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> pexpect.spawn:
    argv = command("chat", *args)
    child = pexpect.spawn(
        argv[0],
        argv[1:],
        env={**os.environ, **TERMINAL, **(env or {})},
        encoding="utf-8",
        timeout=TIMEOUT,
        dimensions=(40, 100),
        cwd=str(cwd) if cwd else None,
    )
    child.logfile_read = io.StringIO()  # all the screen showed, for checks at the end
    child.expect("Chatting with org/chat")
    child.expect("> ")
    return child


def ask(child: pexpect.spawn, text: str, answer: str = "Bonjour") -> None:
    child.sendline(text)
    child.expect(answer)
    child.expect("> ")


def leave(child: pexpect.spawn) -> None:
    child.sendeof()  # Ctrl-D
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_a_conversation_resends_its_history(router: FakeRouter, isolated_env: Path) -> None:
    child = session("-m", "org/chat")
    ask(child, "First question")
    ask(child, "Second question")
    assert bodies(router)[-1]["messages"] == [
        {"role": "user", "content": "First question"},
        {"role": "assistant", "content": "Bonjour !"},
        {"role": "user", "content": "Second question"},
    ]
    leave(child)
    rows = log_rows(isolated_env)
    assert [r["prompt"] for r in rows] == ["First question", "Second question"]
    assert len({r["conversation_id"] for r in rows}) == 1
    assert {r["status"] for r in rows} == {"done"}
    history = (isolated_env / "hfinfer" / "chat-history").read_text(encoding="utf-8")
    assert "First question" in history and "Second question" in history  # readline's


def test_slash_commands(router: FakeRouter, isolated_env: Path, tmp_path: Path) -> None:
    router.add_chat_model("org/other", ["Hola"])
    child = session("-m", "org/chat", cwd=tmp_path)
    child.sendline("/system Be brief")
    child.expect("system prompt: Be brief")
    ask(child, "One")
    ask(child, "Two")
    child.sendline("/undo")
    child.expect("took back: Two")
    child.expect("> ")
    child.sendline("/model org/other")
    child.expect("model: org/other")
    ask(child, "Three", "Hola")
    assert bodies(router)[-1]["model"] == "org/other"
    assert bodies(router)[-1]["messages"] == [
        {"role": "system", "content": "Be brief"},
        {"role": "user", "content": "One"},
        {"role": "assistant", "content": "Bonjour !"},
        {"role": "user", "content": "Three"},
    ]
    child.sendline("/retry")
    child.expect("Hola")
    child.expect("> ")
    assert bodies(router)[-1]["messages"] == bodies(router)[-2]["messages"]
    child.sendline("/provider together")
    child.expect("provider: together")
    child.sendline("/usage")
    child.expect(r"4 turns: 20 input tokens, 12 output tokens")
    child.sendline("/save chat.json")
    child.expect("saved to chat.json")
    child.sendline("/nonsense")
    child.expect("unknown command /nonsense")
    child.sendline("/exit")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    saved = json.loads((tmp_path / "chat.json").read_text(encoding="utf-8"))
    contents = [m["content"] for m in saved["messages"]]
    assert contents == ["Be brief", "One", "Bonjour !", "Three", "Hola"]
    rows = log_rows(isolated_env)  # the log keeps what /undo and /retry took out
    assert [(r["prompt"], r["in_history"]) for r in rows] == [
        ("One", 1),
        ("Two", 0),
        ("Three", 0),
        ("Three", 1),
    ]


def test_multi_line_messages(router: FakeRouter) -> None:
    child = session("-m", "org/chat")
    child.sendline('"""')
    child.sendline("line one")
    child.sendline("line two")
    child.sendline('"""')
    child.expect("Bonjour")
    child.expect("> ")
    child.sendline("joined \\")
    child.sendline("here")
    child.expect("Bonjour")
    child.expect("> ")
    leave(child)
    assert bodies(router)[0]["messages"][-1]["content"] == "line one\nline two"
    assert bodies(router)[1]["messages"][-1]["content"] == "joined \nhere"


def test_ctrl_c_stops_the_answer_and_keeps_the_session(
    router: FakeRouter, isolated_env: Path
) -> None:
    words = [chunk(f"word{i} ") for i in range(150)] + [chunk("", finish="stop")]
    router.script("POST", CHAT, chat_stream(words, delay=0.2))
    child = session("-m", "org/chat")
    child.sendline("Count slowly")
    child.expect("word1")
    child.sendintr()  # Ctrl-C
    child.expect("interrupted")
    child.expect("> ")
    ask(child, "Still there?")
    history = bodies(router)[-1]["messages"]
    assert history[0] == {"role": "user", "content": "Count slowly"}
    assert history[1]["role"] == "assistant" and history[1]["content"].startswith("word0 word1")
    assert "word149" not in history[1]["content"]
    child.sendintr()  # Ctrl-C at the prompt clears the line; the session goes on
    ask(child, "And now?")
    leave(child)
    rows = log_rows(isolated_env)
    assert [r["status"] for r in rows] == ["interrupted", "done", "done"]
    assert rows[0]["output"] == history[1]["content"]


def test_continue_in_a_session(router: FakeRouter, isolated_env: Path) -> None:
    child = session("-m", "org/chat")
    ask(child, "Remember 42")
    leave(child)
    child = session("-c")
    ask(child, "What number?")
    leave(child)
    assert bodies(router)[-1]["messages"][:2] == [
        {"role": "user", "content": "Remember 42"},
        {"role": "assistant", "content": "Bonjour !"},
    ]
    assert len({r["conversation_id"] for r in log_rows(isolated_env)}) == 1


def test_markdown_is_rendered_on_a_terminal(router: FakeRouter) -> None:
    router.add_chat_model("org/md", ["# Title\n\n", "Some **bold** text"])
    child = session("-m", "org/chat")
    child.sendline("/model org/md")
    child.expect("model: org/md")
    child.sendline("Show markdown")
    ansi = r"(?:\x1b\[[0-9;]*m)*"
    child.expect(f"Some {ansi}bold{ansi} text")  # rendered: bold, no asterisks left
    child.expect("> ")
    shown = child.before + child.after
    assert "**bold**" not in shown and "\x1b[1m" in shown
    leave(child)


def test_on_a_terminal_the_wait_and_each_retry_are_shown(router: FakeRouter) -> None:
    from hfserver import json_reply

    router.script(
        "POST", CHAT, json_reply({"error": "Model org/chat is loading", "estimated_time": 1.5}, 503)
    )
    child = session("-m", "org/chat")
    child.sendline("Hello?")
    child.expect("retrying in 2 s: the model is loading \\(about 2 s\\)")
    child.expect("waiting for org/chat")
    child.expect("the model is loading \\(about 2 s\\)…")
    child.expect("Bonjour")
    child.expect("> ")
    leave(child)


def test_prompt_shows_the_templated_conversation(router: FakeRouter) -> None:
    router.models["org/chat"]["config"]["tokenizer_config"]["chat_template"] = (
        "{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}"
    )
    child = session("-m", "org/chat")
    ask(child, "Hi there")
    child.sendline("/prompt")
    child.expect("<user>Hi there<assistant>Bonjour !")
    child.expect("chat_template")
    child.expect("> ")
    leave(child)


def test_one_answer_on_a_terminal_is_rendered(router: FakeRouter) -> None:
    router.add_chat_model("org/md", ["Some ", "**bold**", " text"])
    argv = command("chat", "-m", "org/md", "Hi")
    child = pexpect.spawn(
        argv[0],
        argv[1:],
        env={**os.environ, "TERM": "xterm-256color"},
        encoding="utf-8",
        timeout=TIMEOUT,
        dimensions=(40, 100),
    )
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert "**bold**" not in child.before and "\x1b[1mbold" in child.before
    plain = run_plain("chat", "-m", "org/md", "--no-render", "Hi")
    assert "**bold**" in plain


def run_plain(*args: str) -> str:
    """The same under a terminal with --no-render: the text as the model wrote it."""
    argv = command(*args)
    child = pexpect.spawn(
        argv[0], argv[1:], env={**os.environ, "TERM": "xterm-256color"}, encoding="utf-8"
    )
    child.expect(pexpect.EOF, timeout=TIMEOUT)
    child.close()
    return str(child.before)


def test_an_error_is_one_line_and_the_session_goes_on(router: FakeRouter) -> None:
    from routerserver import openai_error

    router.script("POST", CHAT, openai_error("The provider is down", 500, "server_error"))
    child = session("-m", "org/chat", env={"HFINFER_MAX_RETRIES": "0"})
    child.sendline("Hello?")
    child.expect("error: HTTP 500")
    child.expect("The provider is down")
    child.expect("> ")
    child.sendline("/retry")  # asks the message that got no answer, not the one before
    child.expect("Bonjour")
    child.expect("> ")
    ask(child, "Again?")
    leave(child)
    assert "Traceback" not in child.logfile_read.getvalue()
    assert [b["messages"] for b in bodies(router)][1:] == [
        [{"role": "user", "content": "Hello?"}],
        [
            {"role": "user", "content": "Hello?"},
            {"role": "assistant", "content": "Bonjour !"},
            {"role": "user", "content": "Again?"},
        ],
    ]
