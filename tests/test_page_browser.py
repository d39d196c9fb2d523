"""The chat page at ``/`` in a real headless browser (Debian's Chromium, driven by
Playwright) against ``hfinfer serve`` in front of the local router.

It loads, asks for the gateway's key, lists the models with provider, price
and context length, streams an answer with its reasoning apart, stops one,
keeps conversations across a reload (new, rename, delete) and shows an
upstream error. Screenshots at phone and desktop widths go to
``tests/screenshots/`` (git-ignored).

Without Chromium at /usr/bin/chromium these tests skip, saying how to install
it; with ``CI=true`` they fail instead (.ci/run installs it).
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from gatewayproc import Gateway, serving_gateway
from hfserver import Reply, running_in_thread
from routerserver import FakeRouter, chat_stream, chunk, mapping, openai_error

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).parent / "screenshots"
API_KEY = "sk-gateway-page-key"
#: Generous bounds for a loaded 2-core machine; nothing here is a timing assertion.
WAIT_MS = 30_000
expect.set_options(timeout=WAIT_MS)
ANSWER = [
    "Here is **bold** text and `inline code`.\n\n",
    "```python\nprint('<b>not bold</b>')\n```\n\n",
    "- one\n- two <img src=x onerror=alert(1)>\n",
]
REASONING = ["The user wants ", "an example."]
MODELS = [
    {
        "id": "org/chat",
        "object": "model",
        "created": 1,
        "owned_by": "org",
        "providers": [
            {
                "provider": "together",
                "status": "live",
                "context_length": 131072,
                "pricing": {"input": 0.2, "output": 0.6},
                "supports_tools": True,
            },
            {
                "provider": "novita",
                "status": "live",
                "context_length": 32768,
                "pricing": {"input": 0.05, "output": 0.1},
                "supports_tools": False,
            },
        ],
    },
    {
        "id": "org/slow",
        "object": "model",
        "created": 1,
        "owned_by": "org",
        "providers": [
            {
                "provider": "cerebras",
                "status": "live",
                "context_length": 8192,
                "pricing": {"input": 0.1, "output": 0.1},
                "supports_tools": True,
            }
        ],
    },
    {"id": "org/broken", "object": "model", "created": 1, "owned_by": "org", "providers": []},
]


def need_chromium() -> None:
    if CHROMIUM.exists():
        return
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(
            f"{CHROMIUM} is missing and CI is set: install it (apt-get install -y chromium)"
        )
    pytest.skip(f"no {CHROMIUM}: install Debian's Chromium (apt-get install -y chromium)")


def answer_reply(request: Any) -> Reply:
    """Reasoning, then a Markdown answer, a chunk every 0.15 s (visible as a stream)."""
    chunks = [chunk(None, reasoning=r) for r in REASONING] + [chunk(a) for a in ANSWER]
    usage = {"prompt_tokens": 11, "completion_tokens": 22}
    chunks += [chunk("", finish="stop"), chunk(usage=usage, choices=False)]
    return chat_stream(chunks, delay=0.15)


def slow_reply(request: Any) -> Reply:
    """Two minutes of words unless stopped."""
    return chat_stream([chunk(f"word{n} ") for n in range(600)], delay=0.2)


@pytest.fixture(scope="module")
def router() -> Iterator[FakeRouter]:
    server = FakeRouter()
    for model_id in ("org/chat", "org/slow", "org/broken"):
        server.add_chat_model(model_id, providers=mapping(together="conversational",
                                                          novita="conversational"))  # fmt: skip
    server.chat_handlers["org/chat"] = answer_reply
    server.chat_handlers["org/slow"] = slow_reply
    server.chat_handlers["org/broken"] = lambda request: openai_error(
        "The provider refused: quota of the day used up", 400
    )
    server.router_models = MODELS
    with running_in_thread(server):
        yield server


@pytest.fixture(scope="module")
def gateway(router: FakeRouter, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    need_chromium()
    home = tmp_path_factory.mktemp("page_gateway")
    env = {"HF_TOKEN": "hf_server_token", "HFINFER_MAX_RETRIES": "0"}
    with serving_gateway(router.url, home, ["--api-key", API_KEY], **env) as started:
        yield started


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    need_chromium()
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            await launched.close()


async def open_page(browser: Browser, gateway: Gateway, **context: Any) -> Page:
    """The page in a fresh browser profile, past the key dialog, models listed."""
    profile = await browser.new_context(**{"viewport": {"width": 1280, "height": 800}, **context})
    page = await profile.new_page()
    page.set_default_timeout(WAIT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
    await page.goto(f"{gateway.url}/")
    await expect(page.locator("#key-dialog")).to_be_visible()
    await page.fill("#key-input", API_KEY)
    await page.click("#key-save")
    await expect(page.locator("#model option[value='org/chat']")).to_have_count(1)
    page.errors = errors  # type: ignore[attr-defined]
    page.requested = requested  # type: ignore[attr-defined]
    return page


async def ask(page: Page, model: str, text: str) -> None:
    await page.select_option("#model", model)
    await page.fill("#prompt", text)
    await page.press("#prompt", "Enter")


async def test_it_loads_asks_for_the_key_and_lists_models(
    browser: Browser, gateway: Gateway
) -> None:
    page = await open_page(browser, gateway)
    assert await page.evaluate("localStorage.getItem('hfinfer.apiKey')") == API_KEY
    models = await page.locator("#model option").all_inner_texts()
    assert models == ["org/broken", "org/chat", "org/slow"]
    await page.select_option("#model", "org/chat")
    providers = await page.locator("#provider option").all_inner_texts()
    assert providers[:3] == ["Any provider", "Fastest", "Cheapest"]
    assert "together · $0.20 in / $0.60 out per 1M tokens" in providers
    info = page.locator("#model-info")
    await expect(info).to_contain_text("2 providers")
    await expect(info).to_contain_text("up to 131k context")
    await page.select_option("#provider", "together")
    await expect(info).to_have_text(
        "together · $0.20 in / $0.60 out per 1M tokens · 131k context · tools"
    )
    assert page.errors == []  # type: ignore[attr-defined]
    # Nothing is fetched from anywhere but the gateway (no CDN, no fonts).
    requested: list[str] = page.requested  # type: ignore[attr-defined]
    assert [url for url in requested if not url.startswith((gateway.url, "data:"))] == []
    assert f"{gateway.url}/page/app.js" in requested


async def test_an_answer_streams_with_reasoning_apart_and_markdown_rendered(
    browser: Browser, gateway: Gateway, router: FakeRouter
) -> None:
    page = await open_page(browser, gateway)
    await page.select_option("#model", "org/chat")
    await page.select_option("#provider", "novita")
    await page.fill("#prompt", "Show me Markdown")
    await page.press("#prompt", "Enter")
    # While it streams: the reasoning is open and growing, the Stop button shown.
    streaming = page.locator(".message.assistant.streaming")
    await expect(streaming.locator(".reasoning-body")).to_contain_text("The user wants")
    await expect(page.locator("#stop")).to_be_visible()
    done = page.locator(".message.assistant:not(.streaming)")
    await expect(done.locator(".meta")).to_contain_text("11 + 22 tokens")
    await expect(page.locator("#send")).to_be_visible()
    assert await done.locator(".reasoning-body").text_content() == "The user wants an example."
    assert await done.locator(".reasoning").get_attribute("open") is None  # folded away
    assert await done.locator(".content strong").inner_text() == "bold"
    assert await done.locator(".content pre code").inner_text() == "print('<b>not bold</b>')"
    assert await done.locator(".content li").all_inner_texts() == [
        "one",
        "two <img src=x onerror=alert(1)>",
    ]
    assert await done.locator(".content img, .content b").count() == 0  # text, never markup
    sent = router.last("POST", "/v1/chat/completions")
    assert sent.json()["model"] == "org/chat:novita" and sent.json()["stream"] is True
    assert sent.json()["messages"] == [{"role": "user", "content": "Show me Markdown"}]
    assert page.errors == []  # type: ignore[attr-defined]


async def test_stop_cancels_the_stream(browser: Browser, gateway: Gateway) -> None:
    page = await open_page(browser, gateway)
    await ask(page, "org/slow", "Talk for a long time")
    await expect(page.locator(".message.assistant .content")).to_contain_text("word2")
    await page.click("#stop")
    answer = page.locator(".message.assistant")
    await expect(answer.locator(".meta")).to_contain_text("stopped")
    await expect(page.locator("#send")).to_be_visible()
    text = await answer.locator(".content").inner_text()
    assert "word2" in text and "word599" not in text
    await page.wait_for_timeout(1000)
    assert await answer.locator(".content").inner_text() == text  # nothing arrives after Stop
    # The gateway saw the caller leave and closed the upstream stream (status 499).
    for _ in range(100):
        if '"status":499' in gateway.output():
            break
        await asyncio.sleep(0.2)
    assert '"status":499' in gateway.output()


async def test_conversations_survive_a_reload_with_new_rename_and_delete(
    browser: Browser, gateway: Gateway
) -> None:
    page = await open_page(browser, gateway)
    await ask(page, "org/chat", "First conversation")
    await expect(page.locator(".message.assistant .meta")).to_contain_text("tokens")
    await page.click("#new-chat")
    await expect(page.locator(".message")).to_have_count(0)
    await ask(page, "org/chat", "Second conversation")
    await expect(page.locator(".message.assistant .meta")).to_contain_text("tokens")
    await page.reload()
    titles = page.locator(".conversation-title")
    await expect(titles).to_have_text(["Second conversation", "First conversation"])
    await expect(page.locator(".message.user")).to_have_text("Second conversation")
    await expect(page.locator(".message.assistant strong")).to_have_text("bold")
    # Rename the first one, open it, delete the second; all kept across a reload.
    first = page.locator(".conversation", has_text="First conversation")
    await first.locator("button.rename").click()
    await page.fill(".rename-input", "Renamed chat")
    await page.press(".rename-input", "Enter")
    await page.locator(".conversation-title", has_text="Renamed chat").click()
    await expect(page.locator(".message.user")).to_have_text("First conversation")
    await (
        page.locator(".conversation", has_text="Second conversation")
        .locator("button.delete")
        .click()
    )
    await page.reload()
    await expect(titles).to_have_text(["Renamed chat"])
    await expect(page.locator(".message.user")).to_have_text("First conversation")


async def test_an_upstream_error_is_shown_as_a_message(browser: Browser, gateway: Gateway) -> None:
    page = await open_page(browser, gateway)
    await ask(page, "org/broken", "Hello?")
    alert = page.locator(".message [role=alert]")
    await expect(alert).to_contain_text("quota of the day used up")
    await expect(page.locator("#send")).to_be_visible()
    await page.reload()  # the error is part of the conversation, not resent as history
    await expect(alert).to_contain_text("quota of the day used up")


@pytest.mark.parametrize(
    ("name", "viewport", "scheme"),
    [
        ("desktop-light", {"width": 1280, "height": 800}, "light"),
        ("desktop-dark", {"width": 1280, "height": 800}, "dark"),
        ("phone-dark", {"width": 390, "height": 844}, "dark"),
        ("phone-light", {"width": 390, "height": 844}, "light"),
    ],
)
async def test_screenshots_at_phone_and_desktop_widths(
    browser: Browser, gateway: Gateway, name: str, viewport: dict[str, int], scheme: str
) -> None:
    page = await open_page(browser, gateway, viewport=viewport, color_scheme=scheme)
    await ask(page, "org/chat", "Show me Markdown")
    await expect(page.locator(".message.assistant .meta")).to_contain_text("tokens")
    phone = viewport["width"] < 600
    # Nothing wider than the screen; on a phone the conversations fold into a drawer.
    assert await page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    assert await page.locator("#toggle-sidebar").is_visible() is phone
    sidebar = await page.locator("#sidebar").bounding_box()
    assert sidebar is not None and (sidebar["x"] + sidebar["width"] <= 0) is phone
    background = await page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert (background == "rgb(21, 23, 27)") is (scheme == "dark")
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    await page.screenshot(path=str(path))
    assert path.stat().st_size > 10_000
    if phone:  # the drawer opens over the chat and closes on a tap beside it
        await page.click("#toggle-sidebar")
        await expect(page.locator("#scrim")).to_be_visible()
        for _ in range(100):  # the drawer slides in (a 0.2 s transition)
            drawer = await page.locator("#sidebar").bounding_box()
            if drawer is not None and drawer["x"] >= 0:
                break
            await page.wait_for_timeout(100)
        assert drawer is not None and drawer["x"] >= 0
        await page.screenshot(path=str(SCREENSHOTS / f"{name}-drawer.png"))
        await page.mouse.click(viewport["width"] - 10, viewport["height"] // 2)
        await expect(page.locator("#scrim")).to_be_hidden()


UNSAFE = [
    "<script>alert(1)</script>",
    "[click](javascript:alert(1))",
    '[x](https://example.org/" onmouseover="alert(1))',
    "**<img src=x onerror=alert(1)>**",
    "`<iframe src=x>`",
    "```html\n</code></pre><script>alert(1)</script>\n```",
    "| a | b |\n|---|---|\n| <svg onload=alert(1)> | ok |",
    "> <a href=javascript:alert(1)>quote</a>",
    "see https://example.org/a?b=1&c=<x> now",
    "- item <style>body{display:none}</style>",
]
RENDERED = {
    "**bold** and *em* and `a<b`": (
        "<p><strong>bold</strong> and <em>em</em> and <code>a&lt;b</code></p>"
    ),
    "# Title": "<h1>Title</h1>",
    "1. one\n2. two": "<ol><li>one</li><li>two</li></ol>",
    "[docs](https://example.org/x)": '<p><a href="https://example.org/x" target="_blank" '
    'rel="noopener noreferrer">docs</a></p>',
    "[bad](javascript:alert(1))": "<p>[bad](javascript:alert(1))</p>",
}


async def test_the_markdown_renderer_makes_only_its_own_tags(
    browser: Browser, gateway: Gateway
) -> None:
    page = await open_page(browser, gateway)
    for source, html in RENDERED.items():
        assert await page.evaluate("(s) => HfMarkdown.render(s)", source) == html
    found = await page.evaluate(
        """(sources) => sources.map((source) => {
            const box = document.createElement("div");
            box.innerHTML = HfMarkdown.render(source);
            const risky = box.querySelectorAll("script, img, iframe, svg, style, [onerror], "
                                               + "[onload], [onmouseover]").length;
            const links = [...box.querySelectorAll("a")].map((a) => a.getAttribute("href"));
            return {risky, links, text: box.textContent};
        })""",
        UNSAFE,
    )
    for source, result in zip(UNSAFE, found, strict=True):
        assert result["risky"] == 0, source
        assert all(link.startswith(("https://", "http://")) for link in result["links"]), source
    assert "<script>alert(1)</script>" in found[0]["text"]  # shown as text
    assert found[2]["links"] == ["https://example.org/"]  # a bare link; the rest is text
    assert 'onmouseover="alert(1))' in found[2]["text"]
    assert found[8]["links"] == ["https://example.org/a?b=1&c="]


def test_without_chromium_the_tests_skip_saying_how_to_install_it_but_fail_under_ci(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(sys.modules[__name__], "CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install -y chromium"):
        need_chromium()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI is set"):
        need_chromium()
