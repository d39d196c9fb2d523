"""HuggingFaceInference end to end against the local Hub + inference server."""

from __future__ import annotations

import base64
import inspect
from typing import Any

import pytest

from hfinfer import (
    FinishReason,
    HuggingFaceInference,
    ImageResponse,
    Usage,
)
from hfinfer.errors import (
    AuthenticationError,
    EndpointGoneError,
    InvalidRequestError,
    ModelNotFoundError,
    ModelNotSupportedError,
    PaymentRequiredError,
    RateLimitError,
    ServerError,
)
from hfserver import PNG_1PX, FakeHF, Reply, json_reply

USER = [{"role": "user", "content": "Say hello"}]


async def collect(**kwargs: Any) -> list[Any]:
    return [c async for c in HuggingFaceInference.create_async_generator(**kwargs)]


def texts(chunks: list[Any]) -> str:
    return "".join(c for c in chunks if isinstance(c, str))


# -- the surface ---------------------------------------------------------------


def test_attributes_and_signature() -> None:
    cls = HuggingFaceInference
    assert cls.url == "https://huggingface.co"
    assert cls.parent == "HuggingFace"
    assert cls.working is True
    assert cls.default_model and cls.default_image_model in cls.image_models
    assert isinstance(cls.model_aliases, dict) and isinstance(cls.model_data, dict)
    params = inspect.signature(cls.create_async_generator).parameters
    expected = [
        "model",
        "messages",
        "stream",
        "proxy",
        "timeout",
        "api_base",
        "api_key",
        "max_tokens",
        "temperature",
        "prompt",
        "action",
        "extra_data",
        "seed",
        "aspect_ratio",
        "width",
        "height",
        "kwargs",
    ]
    assert list(params) == expected
    assert params["stream"].default is True and params["max_tokens"].default == 1024
    assert params["timeout"].default == 600


def test_get_model_resolution() -> None:
    cls = HuggingFaceInference
    assert cls.get_model("") == cls.default_model
    assert cls.get_model(None) == cls.default_model
    assert cls.get_model("flux") == "black-forest-labs/FLUX.1-dev"
    assert cls.get_model("someone/unknown-model") == "someone/unknown-model"


def test_subclasses_get_their_own_caches() -> None:
    class Mine(HuggingFaceInference):
        pass

    Mine.model_data["x"] = {}
    assert "x" not in HuggingFaceInference.model_data


# -- text --------------------------------------------------------------------------


async def test_streams_text_then_usage_and_finish(hf: FakeHF) -> None:
    hf.add_text_model("meta-llama/Llama-3.1-8B-Instruct", tokens=[" Hello", " world", "!"])
    chunks = await collect(model="meta-llama/Llama-3.1-8B-Instruct", messages=USER)
    # Tokens that arrive in one read are yielded as one chunk; the first is left-stripped.
    assert texts(chunks) == "Hello world!"
    assert chunks[-2] == Usage(prompt_tokens=7, completion_tokens=4)
    assert chunks[-1] == FinishReason("stop")
    sent = hf.last("POST", "/models/").json()
    assert sent["stream"] is True
    assert sent["parameters"] == {
        "return_full_text": False,
        "details": True,
        "max_new_tokens": 1024,
    }
    # no template known: the llama family prompt, from eos <|eot_id|>
    assert sent["inputs"].startswith("<|begin_of_text|><|start_header_id|>user")


async def test_finish_reason_length_from_details(hf: FakeHF) -> None:
    from hfserver import stream_reply, tgi_events

    hf.add_text_model("org/m")
    hf.script(
        "POST",
        "/models/org/m",
        stream_reply(tgi_events(["a", "b"], special_end=False, finish="length")),
    )
    chunks = await collect(model="org/m", messages=USER, max_tokens=2)
    assert chunks[-1] == FinishReason("length")


async def test_finish_reason_without_details_follows_special_token(hf: FakeHF) -> None:
    from hfserver import stream_reply, tgi_events

    hf.add_text_model("org/m")
    hf.script(
        "POST",
        "/models/org/m",
        stream_reply(tgi_events(["a"], finish=None)),
        stream_reply(tgi_events(["a"], special_end=False, finish=None)),
    )
    assert (await collect(model="org/m", messages=USER))[-1] == FinishReason("stop")
    assert (await collect(model="org/m", messages=USER))[-1] == FinishReason("length")


async def test_non_streaming_text(hf: FakeHF) -> None:
    hf.add_text_model("org/m", tokens=["  Paris. "])
    chunks = await collect(model="org/m", messages=USER, stream=False)
    assert chunks[0] == "Paris."
    assert chunks[-1] == FinishReason("stop")
    assert hf.last("POST", "/models/org/m").json()["stream"] is False


async def test_non_streaming_plain_object_answer(hf: FakeHF) -> None:
    hf.add_text_model("org/m")
    hf.script("POST", "/models/org/m", json_reply({"generated_text": " Rome "}))
    assert await collect(model="org/m", messages=USER, stream=False) == ["Rome"]


async def test_continue_keeps_leading_space_and_ends_inside_message(hf: FakeHF) -> None:
    hf.add_text_model("org/m", tokens=[" and", " more"], eos="<|im_end|>", model_type="qwen2")
    messages = [*USER, {"role": "assistant", "content": "Hello"}]
    chunks = await collect(model="org/m", messages=messages, action="continue")
    assert texts(chunks) == " and more"
    assert hf.last("POST", "/models/").json()["inputs"].endswith("<|im_start|>assistant\nHello")


async def test_generation_knobs_and_extra_data(hf: FakeHF) -> None:
    hf.add_text_model("org/m")
    await collect(
        model="org/m",
        messages=USER,
        temperature=0.7,
        seed=5,
        top_p=0.9,
        top_k=40,
        stop="END",
        repetition_penalty=1.1,
        extra_data={"watermark": True},
        extra_body={"truncate": 100},
        unknown_flag=1,
    )
    params = hf.last("POST", "/models/").json()["parameters"]
    assert params == {
        "return_full_text": False,
        "details": True,
        "max_new_tokens": 1024,
        "temperature": 0.7,
        "seed": 5,
        "top_p": 0.9,
        "top_k": 40,
        "stop": ["END"],
        "repetition_penalty": 1.1,
        "do_sample": True,
        "watermark": True,
        "truncate": 100,
    }


async def test_temperature_zero_means_greedy(hf: FakeHF) -> None:
    hf.add_text_model("org/m")
    await collect(model="org/m", messages=USER, temperature=0, top_p=1.0)
    params = hf.last("POST", "/models/").json()["parameters"]
    assert params["do_sample"] is False
    assert "temperature" not in params and "top_p" not in params


async def test_gpt2_caps_max_new_tokens(hf: FakeHF) -> None:
    hf.add_text_model("openai-community/gpt2", model_type="gpt2", eos="<|endoftext|>")
    await collect(model="openai-community/gpt2", messages=USER)
    assert hf.last("POST", "/models/").json()["parameters"]["max_new_tokens"] == 512


async def test_long_prompt_is_rebuilt_from_fewer_messages(hf: FakeHF) -> None:
    hf.add_text_model("org/m")
    long = "x" * 700
    messages = [{"role": "system", "content": "S"}] + [
        {"role": "user" if i % 2 == 0 else "assistant", "content": f"{i}{long}"} for i in range(9)
    ]
    await collect(model="org/m", messages=messages)
    inputs = hf.last("POST", "/models/").json()["inputs"]
    kept = [f"{i}{long}" for i in range(9) if f"{i}{long}" in inputs]
    assert kept == [f"0{long}", f"1{long}", f"6{long}", f"7{long}", f"8{long}"]


async def test_base_url_alias_and_api_base_argument(hf: FakeHF, monkeypatch) -> None:
    monkeypatch.setenv("HFINFER_API_BASE", "http://127.0.0.1:9")  # would fail if used
    hf.add_text_model("org/m")
    assert texts(await collect(model="org/m", messages=USER, base_url=hf.url)) == "Hello world!"
    assert (
        texts(await collect(model="org/m", messages=USER, api_base=hf.url + "/")) == "Hello world!"
    )


async def test_context_overflow_clamps_max_new_tokens(hf: FakeHF) -> None:
    hf.add_text_model("org/m")
    message = (
        "Input validation error: `inputs` tokens + `max_new_tokens` must be <= 1512. "
        "Given: 12 `inputs` tokens and 2000 `max_new_tokens`"
    )
    hf.script(
        "POST", "/models/org/m", json_reply({"error": message, "error_type": "validation"}, 422)
    )
    chunks = await collect(model="org/m", messages=USER, max_tokens=2000)
    assert texts(chunks) == "Hello world!"
    assert hf.last("POST", "/models/").json()["parameters"]["max_new_tokens"] == 1500


# -- images --------------------------------------------------------------------------


async def test_image_generation(hf: FakeHF) -> None:
    hf.add_image_model("black-forest-labs/FLUX.1-dev")
    chunks = await collect(model="flux", messages=USER, seed=42, width=512, height=256)
    assert len(chunks) == 1 and isinstance(chunks[0], ImageResponse)
    image = chunks[0]
    assert image.alt == "Say hello"
    assert image.url == "data:image/png;base64," + base64.b64encode(PNG_1PX).decode()
    request = hf.last("POST", "/models/black-forest-labs/FLUX.1-dev")
    assert request.json() == {
        "inputs": "Say hello",
        "parameters": {"seed": 42, "width": 512, "height": 256},
    }
    assert request.headers["accept"] == "image/png"


async def test_image_aspect_ratio_prompt_and_random_seed(hf: FakeHF) -> None:
    hf.add_image_model("org/img")
    await collect(model="org/img", messages=USER, prompt="a cat", aspect_ratio="16:9")
    sent = hf.last("POST", "/models/org/img").json()
    assert sent["inputs"] == "a cat"
    assert (sent["parameters"]["width"], sent["parameters"]["height"]) == (1024, 576)
    assert 0 <= sent["parameters"]["seed"] <= 2**32 - 1
    await collect(model="org/img", messages=USER, aspect_ratio="16:9", width=1920)
    sent = hf.last("POST", "/models/org/img").json()["parameters"]
    assert (sent["width"], sent["height"]) == (1920, 1080)
    await collect(model="org/img", messages=USER)
    assert set(hf.last("POST", "/models/org/img").json()["parameters"]) == {"seed"}


async def test_image_stream_flag_is_ignored_and_image_saves(hf: FakeHF, tmp_path) -> None:
    hf.add_image_model("org/img", png=b"\xff\xd8\xff\xe0jpeg", content_type="image/jpeg")
    (image,) = await collect(model="org/img", messages=USER, stream=True)
    path = image.save(tmp_path / "out")
    assert path.suffix == ".jpg" and path.read_bytes() == b"\xff\xd8\xff\xe0jpeg"


async def test_bad_aspect_ratio_is_our_error(hf: FakeHF) -> None:
    hf.add_image_model("org/img")
    with pytest.raises(InvalidRequestError, match="aspect_ratio"):
        await collect(model="org/img", messages=USER, aspect_ratio="wide")


# -- routing and metadata -------------------------------------------------------------


async def test_metadata_is_fetched_once_for_three_generations(hf: FakeHF) -> None:
    hf.add_text_model("org/m")
    for _ in range(3):
        assert texts(await collect(model="org/m", messages=USER)) == "Hello world!"
    assert hf.count("GET", "/api/models/org/m") == 1
    assert hf.count("POST", "/models/org/m") == 3


async def test_metadata_comes_from_disk_in_a_new_process(hf: FakeHF) -> None:
    hf.add_text_model("org/m")
    await collect(model="org/m", messages=USER)
    HuggingFaceInference.model_data.clear()  # as a new process would start
    HuggingFaceInference.chat_templates.clear()
    await collect(model="org/m", messages=USER)
    assert hf.count("GET", "/api/models/org/m") == 1


async def test_get_model_data_accepts_aiohttp_session(hf: FakeHF) -> None:
    import aiohttp

    hf.add_text_model("org/m")
    async with aiohttp.ClientSession() as session:
        data = await HuggingFaceInference.get_model_data(session, "org/m")
        again = await HuggingFaceInference.get_model_data(session, "org/m")
    assert data["pipeline_tag"] == "text-generation" and again is data
    assert HuggingFaceInference.model_data[f"{hf.url}|public|org/m"] is data


async def test_unknown_model_is_model_not_found(hf: FakeHF) -> None:
    with pytest.raises(ModelNotFoundError, match="org/missing"):
        await collect(model="org/missing", messages=USER)


async def test_unsupported_pipeline(hf: FakeHF) -> None:
    hf.models["org/bert"] = {"id": "org/bert", "pipeline_tag": "fill-mask"}
    with pytest.raises(ModelNotSupportedError, match="fill-mask") as caught:
        await collect(model="org/bert", messages=USER)
    assert caught.value.pipeline_tag == "fill-mask"


async def test_inference_404_names_the_model(hf: FakeHF) -> None:
    hf.add_text_model("org/m")
    hf.script("POST", "/models/org/m", json_reply({"error": "Model org/m does not exist"}, 404))
    with pytest.raises(ModelNotFoundError, match="org/m"):
        await collect(model="org/m", messages=USER)


async def test_old_serverless_base_fails_before_any_request(hf: FakeHF) -> None:
    with pytest.raises(EndpointGoneError, match=r"router\.huggingface\.co/hf-inference"):
        await collect(model="org/m", messages=USER, api_base="https://api-inference.huggingface.co")
    assert hf.requests == []


async def test_bad_messages_are_our_error() -> None:
    with pytest.raises(InvalidRequestError):
        await collect(model="org/m", messages=[])
    with pytest.raises(InvalidRequestError):
        await collect(model="org/m", messages=["hi"])
    with pytest.raises(InvalidRequestError, match="extra_data"):
        await collect(model="org/m", messages=USER, extra_data=["x"])


# -- errors by status ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (401, AuthenticationError),
        (403, AuthenticationError),
        (402, PaymentRequiredError),
        (500, ServerError),
        (503, ServerError),
    ],
)
async def test_status_errors(hf: FakeHF, status: int, error: type) -> None:
    hf.add_text_model("org/m")
    hf.script("POST", "/models/org/m", json_reply({"error": "nope"}, status))
    with pytest.raises(error, match="nope") as caught:
        await collect(model="org/m", messages=USER, max_retries=0)
    assert caught.value.status == status


async def test_rate_limit_carries_retry_after(hf: FakeHF) -> None:
    hf.add_text_model("org/m")
    hf.script(
        "POST",
        "/models/org/m",
        json_reply({"error": "Rate limit reached"}, 429, **{"retry-after": "17"}),
    )
    with pytest.raises(RateLimitError) as caught:
        await collect(model="org/m", messages=USER, max_retries=0)
    assert caught.value.retry_after == 17.0


async def test_gated_model_info_asks_for_a_token(hf: FakeHF) -> None:
    hf.script(
        "GET",
        "/api/models/meta-llama/gated",
        json_reply({"error": "Access to model meta-llama/gated is restricted."}, 401),
    )
    with pytest.raises(AuthenticationError, match="HF_TOKEN"):
        await collect(model="meta-llama/gated", messages=USER)


async def test_html_page_gets_its_own_error(hf: FakeHF) -> None:
    from hfinfer.errors import HtmlResponseError

    hf.add_text_model("org/m")
    page = b"<!DOCTYPE html><html><body>Access denied by corporate proxy</body></html>"
    hf.script("POST", "/models/org/m", Reply(200, {"content-type": "text/html"}, page))
    with pytest.raises(HtmlResponseError, match="HTML page"):
        await collect(model="org/m", messages=USER)
    hf.script("POST", "/models/org/m", Reply(502, {"content-type": "text/html"}, page))
    with pytest.raises(HtmlResponseError):
        await collect(model="org/m", messages=USER, max_retries=0)


# -- configuration -----------------------------------------------------------------------


async def test_token_precedence(hf: FakeHF, monkeypatch, isolated_env) -> None:
    hf.add_text_model("org/m")
    (isolated_env / "token").write_text("hf_from_file\n")
    await collect(model="org/m", messages=USER)
    assert hf.last("POST", "/models/").headers["authorization"] == "Bearer hf_from_file"
    monkeypatch.setenv("HF_TOKEN", "hf_from_env")
    await collect(model="org/m", messages=USER)
    assert hf.last("POST", "/models/").headers["authorization"] == "Bearer hf_from_env"
    await collect(model="org/m", messages=USER, api_key="hf_from_arg")
    assert hf.last("POST", "/models/").headers["authorization"] == "Bearer hf_from_arg"
    assert hf.last("GET", "/api/models/").headers["authorization"] == "Bearer hf_from_file"


async def test_no_token_sends_no_authorization(hf: FakeHF) -> None:
    hf.add_text_model("org/m")
    await collect(model="org/m", messages=USER)
    assert "authorization" not in hf.last("POST", "/models/").headers


async def test_token_never_in_errors_or_reprs(hf: FakeHF) -> None:
    from hfinfer.config import ClientSettings
    from hfinfer.http.session import HttpClient

    secret = "hf_SECRET_token_value"
    hf.add_text_model("org/m")
    hf.script("POST", "/models/org/m", json_reply({"error": "Invalid credentials"}, 401))
    with pytest.raises(AuthenticationError) as caught:
        await collect(model="org/m", messages=USER, api_key=secret)
    assert secret not in str(caught.value) and secret not in repr(caught.value)
    settings = ClientSettings.resolve(api_key=secret)
    assert secret not in repr(settings)
    assert secret not in repr(HttpClient(settings))
    assert secret not in repr(HuggingFaceInference(api_key=secret))


# -- the blocking twin and instances -------------------------------------------------------


def test_create_completion_blocking(hf_sync: FakeHF) -> None:
    chunks = list(HuggingFaceInference.create_completion("org/m", USER))
    assert texts(chunks) == "Hello world!" and chunks[-1] == FinishReason("stop")


async def test_instance_shares_one_pool(hf: FakeHF) -> None:
    hf.add_text_model("org/m")
    async with HuggingFaceInference() as provider:
        for _ in range(3):
            chunks = [c async for c in provider.create_async_generator("org/m", USER)]
            assert texts(chunks) == "Hello world!"
        assert provider._http is not None
        session = provider._http.session()
    assert session.closed
    # One connection served all calls: the server saw keep-alive reuse.
    assert hf.count("POST", "/models/org/m") == 3


async def test_create_async_joins_text(hf: FakeHF) -> None:
    hf.add_text_model("org/m")
    assert await HuggingFaceInference.create_async("org/m", USER) == "Hello world!"
    assert await HuggingFaceInference().create_async("org/m", USER) == "Hello world!"


# -- proxy, offline, model lists -----------------------------------------------------------


async def test_proxy_is_used_for_every_call(hf: FakeHF, monkeypatch) -> None:
    # The hosts do not exist; only a proxy that forwards can answer. The local
    # server plays the proxy: it receives absolute-form requests.
    monkeypatch.setenv("HF_ENDPOINT", "http://hub.invalid")
    hf.add_text_model("org/m")
    chunks = await collect(
        model="org/m", messages=USER, api_base="http://inference.invalid", proxy=hf.url
    )
    assert texts(chunks) == "Hello world!"
    assert hf.count("GET", "/api/models/org/m") == 1 and hf.count("POST", "/models/org/m") == 1


async def test_offline_mode_uses_the_disk_cache_alone(hf: FakeHF, monkeypatch) -> None:
    from hfinfer.hub.metadata import OfflineCacheMiss

    hf.add_text_model("org/m")
    await collect(model="org/m", messages=USER)
    HuggingFaceInference.model_data.clear()
    HuggingFaceInference.chat_templates.clear()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert texts(await collect(model="org/m", messages=USER)) == "Hello world!"
    assert hf.count("GET", "/api/models/") == 1
    with pytest.raises(OfflineCacheMiss, match="HF_HUB_OFFLINE"):
        await collect(model="org/other", messages=USER)


def test_get_models_merges_hub_lists_and_caches(hf_sync: FakeHF) -> None:
    hf_sync.model_lists["text-generation"] = [
        {"id": "z/warm"},
        {"id": "a/warm"},
        {"id": HuggingFaceInference.default_model},
    ]
    hf_sync.model_lists["text-to-image"] = [
        {"id": "pix/trend"},
        {"id": "black-forest-labs/FLUX.1-dev"},
    ]
    models = HuggingFaceInference.get_models()
    assert models[0] == HuggingFaceInference.default_model
    assert len(models) == len(set(models))
    assert {"z/warm", "a/warm", "pix/trend"} <= set(models)
    assert models.index("a/warm") < models.index("z/warm")
    assert "pix/trend" in HuggingFaceInference.image_models
    listed = hf_sync.count("GET", "/api/models")
    assert HuggingFaceInference.get_models() == models
    assert hf_sync.count("GET", "/api/models") == listed
    query = dict(hf_sync.last("GET", "/api/models").query)
    assert query["inference"] == "warm" and query["sort"] == "trendingScore"


def test_get_models_without_hub_returns_fallback(monkeypatch) -> None:
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    models = HuggingFaceInference.get_models()
    assert HuggingFaceInference.default_model in models
    assert HuggingFaceInference.default_image_model in models


# -- broken streams keep what was delivered ---------------------------------------------------


async def test_error_event_mid_stream_after_text(hf: FakeHF) -> None:
    from hfinfer.errors import StreamError
    from hfserver import stream_reply, tgi_events

    hf.add_text_model("org/m")
    events = [
        *tgi_events(["Once", " upon"])[:2],
        {"error": "Request failed during generation: CUDA OOM", "error_type": "generation"},
    ]
    hf.script("POST", "/models/org/m", stream_reply(events, per_event_chunks=False))
    delivered: list[str] = []
    with pytest.raises(StreamError, match="CUDA OOM") as caught:
        async for chunk in HuggingFaceInference.create_async_generator("org/m", USER):
            delivered.append(chunk)
    assert "".join(delivered) == "Once upon"
    assert caught.value.partial_text == "Once upon" and caught.value.tokens_received == 2
    assert caught.value.error_type == "generation"


async def test_malformed_event_keeps_text(hf: FakeHF) -> None:
    from hfinfer.errors import StreamError
    from hfserver import stream_reply, tgi_events

    hf.add_text_model("org/m")
    events = [*tgi_events(["A", "B"])[:2], b"{not json"]
    hf.script("POST", "/models/org/m", stream_reply(events))
    delivered: list[str] = []
    with pytest.raises(StreamError, match="Malformed stream event after 2 tokens"):
        async for chunk in HuggingFaceInference.create_async_generator("org/m", USER):
            delivered.append(chunk)
    assert "".join(delivered) == "AB"


async def test_utf8_split_across_reads(hf: FakeHF) -> None:
    from hfserver import sse_events, tgi_events

    hf.add_text_model("org/m")
    body = b"".join(sse_events(tgi_events(["Grüße", " 🌍", " 日本"])))
    # Cut the body inside multi-byte characters: one HTTP chunk per few bytes.
    pieces = [body[i : i + 7] for i in range(0, len(body), 7)]
    hf.script(
        "POST", "/models/org/m", Reply(200, {"content-type": "text/event-stream"}, chunks=pieces)
    )
    chunks = await collect(model="org/m", messages=USER)
    assert texts(chunks) == "Grüße 🌍 日本"


# -- a dedicated endpoint or self-hosted TGI server, given as the model -------------------------


async def test_endpoint_url_as_model_posts_to_it_with_the_served_models_template(
    hf: FakeHF,
) -> None:
    from hfserver import stream_reply, tgi_events

    hf.add_text_model("org/served", template="{% for m in messages %}<{{ m.content }}>{% endfor %}")
    hf.script("GET", "/info", json_reply({"model_id": "org/served", "max_total_tokens": 4096}))
    hf.script("POST", "/", stream_reply(tgi_events(["From", " TGI"])))
    chunks = await collect(model=hf.url + "/", messages=USER)
    assert texts(chunks) == "From TGI"
    assert hf.last("POST", "/").json()["inputs"] == "<Say hello>"
    assert hf.count("POST", "/models/") == 0


async def test_endpoint_without_info_uses_the_generic_prompt(hf: FakeHF) -> None:
    from hfserver import stream_reply, tgi_events

    hf.script("POST", "/", stream_reply(tgi_events(["ok"])), stream_reply(tgi_events(["ok"])))
    for _ in range(2):
        assert texts(await collect(model=hf.url, messages=USER)) == "ok"
    assert hf.last("POST", "/").json()["inputs"] == "Say hello"
    assert hf.count("GET", "/info") == 1  # a 404 is not retried, and is remembered


async def test_endpoint_info_failing_once_is_asked_again(hf: FakeHF) -> None:
    # A cold endpoint answers 503 (every attempt of the first call): that is not
    # remembered, so the next call reads /info and uses the served model's template.
    from hfinfer.hub.metadata import LIST_RETRY
    from hfserver import stream_reply, tgi_events

    hf.add_text_model("org/served", template="{% for m in messages %}<{{ m.content }}>{% endfor %}")
    cold = [json_reply({"error": "loading"}, 503)] * (LIST_RETRY.max_retries + 1)
    hf.script("GET", "/info", *cold, json_reply({"model_id": "org/served"}))
    hf.script("POST", "/", *[stream_reply(tgi_events(["ok"])) for _ in range(3)])
    inputs = []
    for _ in range(3):
        assert texts(await collect(model=hf.url, messages=USER)) == "ok"
        inputs.append(hf.last("POST", "/").json()["inputs"])
    assert inputs == ["Say hello", "<Say hello>", "<Say hello>"]
    assert hf.count("GET", "/info") == len(cold) + 1  # the answer given is remembered


async def test_proxy_from_the_environment_and_no_proxy(hf: FakeHF, monkeypatch) -> None:
    monkeypatch.setenv("HF_ENDPOINT", "http://hub.invalid")
    monkeypatch.setenv("HTTP_PROXY", hf.url)
    hf.add_text_model("org/m")
    chunks = await collect(model="org/m", messages=USER, api_base="http://inference.invalid")
    assert texts(chunks) == "Hello world!"
    assert hf.count("POST", "/models/org/m") == 1
    # NO_PROXY names the host: the request goes direct, and *.invalid does not resolve.
    monkeypatch.setenv("NO_PROXY", "inference.invalid")
    from hfinfer.errors import ConnectionError as HFConnectionError

    with pytest.raises(HFConnectionError):
        await collect(
            model="org/m", messages=USER, api_base="http://inference.invalid", max_retries=0
        )


@pytest.fixture
def self_signed(tmp_path):
    """A key and a self-signed certificate for 127.0.0.1, made with the openssl command."""
    import shutil
    import subprocess

    openssl = shutil.which("openssl")
    assert openssl, "the openssl command makes the test's self-signed certificate"
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return key, cert


async def test_untrusted_certificate_is_a_clear_error_and_not_retried(
    self_signed, monkeypatch
) -> None:
    import asyncio
    import contextlib
    import ssl

    from hfinfer.errors import CertificateError

    key, cert = self_signed
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    connections = 0

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        with contextlib.suppress(Exception):  # the client refuses the certificate
            await asyncio.get_running_loop().start_tls(
                writer.transport, writer.transport.get_protocol(), context, server_side=True
            )
        writer.transport.abort()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"https://127.0.0.1:{port}")
    try:
        with pytest.raises(CertificateError, match="TLS handshake"):
            await collect(model="org/m", messages=USER, max_retries=3)
        assert connections == 1  # one attempt: a certificate is not retried
    finally:
        server.close()
        await server.wait_closed()


async def test_a_body_that_is_not_sse_is_refused_with_the_text_kept(
    hf: FakeHF, monkeypatch
) -> None:
    import functools

    from hfinfer.errors import StreamError
    from hfinfer.protocol import sse
    from hfserver import sse_events, tgi_events

    # The stream's parser (made by tgi.TextStream) with a small limit.
    monkeypatch.setattr(sse, "SSEParser", functools.partial(sse.SSEParser, max_event_bytes=4096))
    hf.add_text_model("org/m")
    body = b"".join(sse_events(tgi_events(["Kept"])[:1])) + b"data:" + b"z" * 10_000
    hf.script(
        "POST",
        "/models/org/m",
        Reply(
            200,
            {"content-type": "text/event-stream"},
            chunks=[body[i : i + 1000] for i in range(0, len(body), 1000)],
        ),
    )
    delivered: list[str] = []
    with pytest.raises(StreamError, match="past 4096 bytes") as caught:
        async for chunk in HuggingFaceInference.create_async_generator("org/m", USER):
            delivered.append(chunk)
    assert delivered == ["Kept"] and caught.value.partial_text == "Kept"
