"""Issue 11, hardened for a gateway: a hostile server, template or caller, one
test each, doing exactly the bad thing, bounded in time so a hang fails."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from hfinfer import HuggingFaceInference, TemplateError, render_chat_template
from hfinfer.prompts.chat_template import compile_template
from hfinfer.prompts.render_limits import RenderLimits
from hfinfer.protocol.sse import SSEParser
from hfserver import FakeHF, Reply, Request, json_reply, stream_reply, tgi_events

USER = [{"role": "user", "content": "Hi"}]


async def generate(model: str, **kwargs: Any) -> str:
    chunks = [c async for c in HuggingFaceInference.create_async_generator(model, USER, **kwargs)]
    return "".join(c for c in chunks if isinstance(c, str))


# -- 2: hostile chat templates -----------------------------------------------------

HOSTILE_TEMPLATES = {
    "nested-range-loops": (
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
    ),
    "exponential-macro": (
        "{% macro f(n) %}{% if n > 0 %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}"
        "{{ f(60) }}"
    ),
    "recursive-macro": "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
    "str-times-n": "{% set n = 1000000000 %}{{ 'ab' * n }}",
    "constant-a-times-10-pow-9": "{{ 'a' * 10**9 }}",
    "list-times-n": "{{ ([1] * 1000000000)|length }}",
    "huge-power": "{{ 7 ** 10000000 }}",
    "doubling-with-tilde": (
        "{% set ns = namespace(s='a') %}{% for i in range(64) %}"
        "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}"
    ),
    "doubling-with-plus": (
        "{% set ns = namespace(s=['a']) %}{% for i in range(64) %}"
        "{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s|length }}"
    ),
    "doubling-a-captured-block": (
        "{% set ns = namespace(s='a') %}{% for i in range(64) %}"
        "{% set ns.s %}{{ ns.s }}{{ ns.s }}{% endset %}{% endfor %}"
    ),
    "output-in-a-long-loop": "{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}",
    "printf-width": "{{ '%0999999999d' % 1 }}",
    "format-filter-width": "{{ '%0999999999d'|format(1) }}",
    "str-format-width": "{{ '{:>999999999}'.format(1) }}",
    "center-filter": "{{ 'a'|center(1000000000) }}",
    "center-method": "{{ 'a'.center(1000000000) }}",
    "replace-twice": "{{ ('a' * 1000)|replace('a', 'a' * 1000)|replace('a', 'a' * 1000) }}",
    "join": "{{ (['a' * 1000000] * 1000)|join }}",
    "lipsum": "{{ lipsum(100000000) }}",
    "slice-count": "{{ [1]|slice(1000000000)|list|length }}",
    "indent-width": "{{ 'a\nb'|indent(1000000000) }}",
    "tojson-indent": "{{ messages|tojson(indent=100000000) }}",
    "squaring-an-int": (
        "{% set ns = namespace(x=3) %}{% for i in range(100) %}"
        "{% set ns.x = ns.x * ns.x %}{% endfor %}"
    ),
}


@pytest.mark.parametrize("template", HOSTILE_TEMPLATES.values(), ids=HOSTILE_TEMPLATES.keys())
def test_a_hostile_template_is_stopped_within_its_bound(template: str) -> None:
    started = time.monotonic()
    with pytest.raises(TemplateError, match="chat template"):
        render_chat_template(template, USER, render_limits=RenderLimits(seconds=1.0))
    assert time.monotonic() - started < 10.0  # 1 s limit; loose for a loaded machine


def test_huge_constants_are_not_folded_at_compile_time() -> None:
    # Jinja used to compute 'a' * 10**9 while compiling (a gigabyte, or MemoryError).
    started = time.monotonic()
    compile_template("{{ 'a' * 10**9 }}{{ 'b'|center(1000000000) }}")
    assert time.monotonic() - started < 5.0


def test_the_size_limit_is_configurable() -> None:
    template = "{% for m in messages %}{{ m.content }}{% endfor %}"
    long = [{"role": "user", "content": "x" * 200_000}]
    assert render_chat_template(template, long) == "x" * 200_000
    with pytest.raises(TemplateError, match="over the limit of 100,000"):
        render_chat_template(template, long, render_limits=RenderLimits(max_chars=100_000))


def test_a_template_text_too_long_to_be_one_is_refused() -> None:
    with pytest.raises(TemplateError, match="over the limit"):
        render_chat_template("x" * (300 * 1024), USER)


async def test_a_hostile_template_does_not_stop_other_streams(
    hf: FakeHF, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HFINFER_TEMPLATE_TIMEOUT", "4")
    hf.add_text_model("org/hostile", template=HOSTILE_TEMPLATES["nested-range-loops"])
    hf.add_text_model("org/fine")
    words = ["w0", *(f" w{i}" for i in range(1, 10))]
    hf.generations["org/fine"] = lambda req: stream_reply(tgi_events(words), delay=0.05)
    finished: list[str] = []

    async def hostile() -> None:
        with pytest.raises(TemplateError, match="render time limit"):
            await generate("org/hostile")
        finished.append("hostile")

    async def fine() -> None:
        assert await generate("org/fine") == "".join(words)
        finished.append("fine")

    await asyncio.wait_for(asyncio.gather(hostile(), fine()), 60)
    # Rendered on the event loop, the hostile template would hold the other stream
    # for its whole 4 s; off the loop, the other stream ends first.
    assert finished == ["fine", "hostile"]


# -- 8: one long SSE event, many reads -------------------------------------------


def test_one_long_event_in_many_reads_is_linear() -> None:
    # 15 MiB in 8 KiB reads: rebuilding and rescanning the buffer on every read
    # took 16 s here; scanning only the new bytes takes milliseconds.
    event = b"data:" + b"x" * (15 * 2**20) + b"\n\n"
    parser = SSEParser()
    started = time.process_time()
    completed = [parser.take(event[i : i + 8192]) for i in range(0, len(event), 8192)]
    took = time.process_time() - started
    assert [c for c in completed if c] == [event]
    assert parser.pending == b""
    assert took < 3.0  # loose: a quadratic parser needs many times this


def test_an_event_ending_across_two_reads_in_pieces() -> None:
    parser = SSEParser()
    assert parser.take(b"data: a") == b""
    assert parser.take(b"bc\n") == b""
    assert parser.take(b"\ndata: d\r") == b"data: abc\n\n"
    assert parser.take(b"\n\r\n") == b"data: d\n\n"


# -- 9: model ids ------------------------------------------------------------------

BAD_IDS = [
    "../../api/whoami-v2",
    "%2e%2e/%2e%2e/api/whoami-v2",
    "org/m?x=1",
    "org/m#x",
    "org/m/../../x",
    "a/b/c",
    "-org/m",
    "org/m.",
    "org--x/m",
    "org/m.git",
    "org/" + "m" * 97,
    "org/m n",
    "org/mé",
    "org\\m",
]


@pytest.mark.parametrize("model", BAD_IDS)
async def test_a_bad_model_id_is_refused_before_any_request(hf: FakeHF, model: str) -> None:
    from hfinfer import HuggingFaceRouter, InvalidRequestError

    hf.add_text_model("org/m")
    for provider in (HuggingFaceInference, HuggingFaceRouter):
        with pytest.raises(InvalidRequestError, match="not a Hub model id"):
            async for _ in provider.create_async_generator(model, USER, api_key="hf_secret"):
                pass
    with pytest.raises(InvalidRequestError):
        await HuggingFaceInference.get_model_data(None, model)
    assert hf.requests == []


@pytest.mark.parametrize(
    "model", ["gpt2", "org/m", "Foo-BAR_foo.bar123/x.y_z-1", "o/" + "m" * 96, "_a/b_"]
)
def test_good_model_ids_pass_unchanged(model: str) -> None:
    from hfinfer.protocol.repo_ids import check_repo_id, repo_path

    assert check_repo_id(model) == model
    assert repo_path(model) == model  # nothing in a valid id needs escaping


# Model ids given as URLs (endpoints): tests/test_provider.py::test_endpoint_url_as_model_*.


# -- 3: what is cached, and for whom -----------------------------------------------


class TokenHub(FakeHF):
    """The Hub as it guards a private repo: only ``hf_owner`` may see ``org/secret``."""

    def _route(self, request: Request) -> Reply:
        if "org/secret" in request.path and (
            request.headers.get("authorization") != "Bearer hf_owner"
        ):
            return json_reply({"error": "Repository not found"}, 401)
        return super()._route(request)


SECRET_TEMPLATE = "SECRET{% for m in messages %}[{{ m.content }}]{% endfor %}"


@pytest.fixture
async def token_hub(monkeypatch: pytest.MonkeyPatch) -> Any:
    server = TokenHub()
    await server.start()
    for name in ("HF_ENDPOINT", "HFINFER_API_BASE", "HF_ROUTER_URL"):
        monkeypatch.setenv(name, server.url)
    info = server.add_text_model("org/secret", template=SECRET_TEMPLATE)
    info["private"] = True
    server.add_text_model("org/open", template="OPEN{{ messages[0].content }}")
    try:
        yield server
    finally:
        await server.stop()


def clear_memory_caches() -> None:
    HuggingFaceInference.model_data.clear()
    HuggingFaceInference.chat_templates.clear()


async def test_a_private_template_is_not_served_to_another_token(token_hub: TokenHub) -> None:
    from hfinfer import AuthenticationError

    await generate("org/secret", api_key="hf_owner")
    assert token_hub.last("POST", "/models/org/secret").json()["inputs"] == "SECRET[Hi]"
    asked = token_hub.count("GET", "/api/models/org/secret")
    for other in ("hf_tenant", None):
        with pytest.raises(AuthenticationError):
            await generate("org/secret", api_key=other)
    clear_memory_caches()  # as a new process would start: only the disk cache is left
    with pytest.raises(AuthenticationError):
        await generate("org/secret", api_key="hf_tenant")
    # Every other caller was answered by the Hub, not by the owner's cached answer.
    assert token_hub.count("GET", "/api/models/org/secret") == asked + 3
    await generate("org/secret", api_key="hf_owner")  # the owner's own entry still serves
    assert token_hub.count("GET", "/api/models/org/secret") == asked + 3


async def test_a_public_answer_is_shared_across_tokens(token_hub: TokenHub) -> None:
    await generate("org/open", api_key="hf_owner")
    asked = token_hub.count("GET", "/api/models/org/open")
    for other in ("hf_tenant", None):
        await generate("org/open", api_key=other)
        assert token_hub.last("POST", "/models/org/open").json()["inputs"] == "OPENHi"
    assert token_hub.count("GET", "/api/models/org/open") == asked


async def test_answers_are_cached_per_hub_endpoint(
    hf: FakeHF, monkeypatch: pytest.MonkeyPatch
) -> None:
    hf.add_text_model("org/m", template="ONE{{ messages[0].content }}")
    other = FakeHF()
    async with other:
        other.add_text_model("org/m", template="TWO{{ messages[0].content }}")
        await generate("org/m")
        monkeypatch.setenv("HF_ENDPOINT", other.url)
        await generate("org/m")
    assert [r.json()["inputs"] for r in hf.requests if r.method == "POST"] == ["ONEHi", "TWOHi"]
    assert other.count("GET", "/api/models/org/m") == 1


# -- 10: smaller ones --------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [("config", "a string"), ("pipeline_tag", ["text-generation"]), ("siblings", {"a": 1}),
     ("config", {"tokenizer_config": "x"}), ("config", {"model_type": 7})],
)  # fmt: skip
async def test_odd_metadata_shapes_are_our_errors(hf: FakeHF, field: str, value: Any) -> None:
    from hfinfer import HFInferenceError, HuggingFaceRouter, ResponseError

    hf.add_text_model("org/m")[field] = value
    with pytest.raises(ResponseError, match=f"'{field}"):
        await generate("org/m")
    hf.add_text_model("org/ok")["config"]["tokenizer_config"]["chat_template"] = 42
    with pytest.raises(TemplateError, match="is a int"):
        await generate("org/ok")
    # The router only asks the Hub which providers serve the model: an odd answer is
    # ignored (logged) and the router decides; here it has no chat route, an error of ours.
    with pytest.raises(HFInferenceError):
        async for _ in HuggingFaceRouter.create_async_generator("org/m", USER):
            pass


def disk_records(home: Any, key_part: str) -> list[Any]:
    return [p for p in (home / "hfinfer" / "hub").glob("*.json") if key_part in p.read_text()]


@pytest.mark.parametrize(
    "damage",
    [{"stored_at": "yesterday"}, {"stored_at": None}, {"stored_at": 1e300},
     {"value": [1, 2, 3]}, {"value": "text"}],
)  # fmt: skip
async def test_a_damaged_cache_record_is_a_miss_and_is_replaced(
    hf: FakeHF, isolated_env: Any, damage: dict[str, Any]
) -> None:
    import json

    from hfserver import text_model

    hf.add_text_model("org/m")
    await generate("org/m")
    [record] = disk_records(isolated_env, "model_info|org/m|")
    record.write_text(json.dumps({**json.loads(record.read_text()), **damage}))
    HuggingFaceInference.model_data.clear()
    HuggingFaceInference.chat_templates.clear()
    assert await generate("org/m") == "Hello world!"
    assert hf.count("GET", "/api/models/org/m") == 2
    repaired = json.loads(record.read_text())
    assert isinstance(repaired["stored_at"], float) and repaired["value"] == text_model("org/m")


async def test_one_cancelled_lookup_of_fifty_sends_one_more_request(hf: FakeHF) -> None:
    from hfinfer.config import ClientSettings
    from hfinfer.http.session import HttpClient
    from hfinfer.hub.metadata import Hub
    from hfserver import text_model

    hf.script("GET", "/api/models/org/m", Reply(delay_headers=0.5, **_json(text_model("org/m"))))
    hf.models["org/m"] = text_model("org/m")
    async with HttpClient(ClientSettings.resolve()) as http:
        lookups = [asyncio.create_task(Hub(http).model_info("org/m")) for _ in range(50)]
        await asyncio.sleep(0.2)
        lookups[0].cancel()
        done = await asyncio.wait_for(asyncio.gather(*lookups, return_exceptions=True), 30)
    assert isinstance(done[0], asyncio.CancelledError)
    assert all(isinstance(d, dict) and d["id"] == "org/m" for d in done[1:])
    assert hf.count("GET", "/api/models/org/m") == 2


def _json(data: Any) -> dict[str, Any]:
    reply = json_reply(data)
    return {"status": reply.status, "headers": reply.headers, "body": reply.body}


def test_a_proxy_password_never_shows_in_reprs() -> None:
    from hfinfer.config import ClientSettings
    from hfinfer.http.session import HttpClient

    settings = ClientSettings.resolve(api_key="hf_tok", proxy="http://me:s3cret@127.0.0.1:9")
    for text in (repr(settings), repr(HttpClient(settings)), str(settings)):
        assert "s3cret" not in text and "hf_tok" not in text
        assert "me:***@127.0.0.1:9" in text


async def test_a_byte_order_mark_in_the_token_file_is_not_sent(
    hf: FakeHF, isolated_env: Any
) -> None:
    (isolated_env / "token").write_text("\ufeffhf_saved\n", encoding="utf-8")
    hf.add_text_model("org/m")
    await generate("org/m")
    assert hf.last("POST", "/models/org/m").headers["authorization"] == "Bearer hf_saved"


@pytest.mark.parametrize("where", ["api_key", "HF_TOKEN", "file"])
async def test_a_line_break_inside_a_token_is_our_error(
    hf: FakeHF, isolated_env: Any, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    from hfinfer import InvalidRequestError

    bad = "hf_abc\r\nx-injected: 1"
    if where == "HF_TOKEN":
        monkeypatch.setenv("HF_TOKEN", bad)
    elif where == "file":
        (isolated_env / "token").write_text(bad, encoding="utf-8")
    hf.add_text_model("org/m")
    with pytest.raises(InvalidRequestError, match="line break") as caught:
        await generate("org/m", api_key=bad if where == "api_key" else None)
    assert "hf_abc" not in str(caught.value)
    assert hf.requests == []


def test_the_cli_says_a_broken_token_in_one_line(
    hf_sync: FakeHF, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from hfinfer.cli.main import cli

    monkeypatch.setenv("HF_TOKEN", "hf_abc\nmore")
    result = CliRunner().invoke(cli, ["chat", "Hi", "-m", "org/m"])
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "line break" in result.stderr
    assert "Traceback" not in result.stderr and "hf_abc" not in result.stderr
