"""Embeddings: through the router's providers (chosen from the Hub's mapping) and
against a server of one's own (TEI, OpenAI-compatible), with long lists batched."""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import AsyncIterator
from typing import Any

import pytest

import hfinfer
from hfinfer import AsyncClient, EmbeddingResponse
from hfinfer.errors import InvalidRequestError, ModelNotSupportedError, ResponseError
from hfinfer.protocol.provider_tasks import HFInferenceEmbeddings, OpenAIEmbeddings
from hfinfer.protocol.provider_tasks.embeddings import mean_pool
from hfserver import FakeHF, Reply, json_reply, load_cassette
from routerserver import FakeRouter, load_tape, serve_router

SENTENCE_TRANSFORMERS = (
    "TestInferenceClient.test_feature_extraction_with_sentence_transformers"
    "[hf-inference,feature-extraction].yaml"
)
#: huggingface.js's recordings: an OpenAI-style /v1/embeddings answer (sambanova), and
#: hf-inference's feature-extraction for two inputs of a model without pooling.
OPENAI_EMBEDDINGS_TAPE = "3e681e3a8e"
TWO_INPUTS_TAPE = "0f1f121801"
PIPELINE = "/hf-inference/models/{}/pipeline/feature-extraction"


@pytest.fixture
async def router(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeRouter]:
    async with serve_router(monkeypatch) as server:
        yield server


def served(router: FakeRouter, model: str, **providers: str) -> None:
    """``model`` on the Hub, embedded by ``providers`` (name → providerId), in that order."""
    mapping = {
        name.replace("_", "-"): {"status": "live", "providerId": pid, "task": "feature-extraction"}
        for name, pid in providers.items()
    }
    router.models[model] = {
        "id": model,
        "pipeline_tag": "feature-extraction",
        "inferenceProviderMapping": mapping,
    }


def counting_server(width: int = 3) -> Any:
    """A feature-extraction handler: vector i of a batch is [len(text), i, width]."""

    def handler(request: Any) -> Reply:
        inputs = request.json().get("inputs", request.json().get("input"))
        vectors = [[float(len(t)), float(i), float(width)] for i, t in enumerate(inputs)]
        if "input" in request.json():  # OpenAI's shape
            data = [
                {"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)
            ]
            return json_reply({"data": data, "usage": {"prompt_tokens": len(inputs)}})
        return json_reply(vectors)

    return handler


# -- the router's providers ------------------------------------------------------------


async def test_recorded_hf_inference_answer_is_mean_pooled(router: FakeRouter) -> None:
    generation = load_cassette(SENTENCE_TRANSFORMERS)[-1]
    model = "facebook/bart-base"
    served(router, model, hf_inference=model)
    router.script("POST", PIPELINE.format(model), generation.reply())
    result = await hfinfer.embed(model, "Hi, who are you?")
    recorded = json.loads(generation.body)  # [1][8 tokens][768]
    tokens = recorded[0]
    expected = [sum(column) / len(tokens) for column in zip(*tokens, strict=True)]
    assert isinstance(result, EmbeddingResponse) and len(result) == 1
    assert result.vectors[0] == pytest.approx(expected)
    assert (result.dimensions, result.model, result.provider) == (768, model, "hf-inference")
    assert router.last("POST", PIPELINE.format(model)).json() == {"inputs": ["Hi, who are you?"]}


async def test_recorded_two_inputs_give_two_vectors(router: FakeRouter) -> None:
    tape = load_tape(TWO_INPUTS_TAPE)
    model = "facebook/bart-base"
    served(router, model, hf_inference=model)
    router.script("POST", PIPELINE.format(model), tape.reply())
    inputs = json.loads(tape.request_body)["inputs"]
    result = await AsyncClient().embed(model, inputs)
    assert len(result.vectors) == 2 and {len(v) for v in result.vectors} == {768}
    assert result.vectors[0] != result.vectors[1]
    assert router.last("POST", PIPELINE.format(model)).json() == {"inputs": inputs}


@pytest.mark.parametrize(
    ("provider", "path"),
    [
        ("together", "/together/v1/embeddings"),
        ("deepinfra", "/deepinfra/v1/openai/embeddings"),
        ("scaleway", "/scaleway/v1/embeddings"),
    ],
)
async def test_openai_style_providers(router: FakeRouter, provider: str, path: str) -> None:
    tape = load_tape(OPENAI_EMBEDDINGS_TAPE)  # recorded from sambanova's /v1/embeddings
    served(router, "intfloat/e5-mistral-7b-instruct", **{provider: "E5-Mistral-7B-Instruct"})
    router.script("POST", path, tape.reply())
    text = json.loads(tape.request_body)["input"]
    async with AsyncClient() as client:
        result = await client.embed("intfloat/e5-mistral-7b-instruct", text, dimensions=4096)
    recorded = json.loads(tape.body)
    assert result.vectors == [recorded["data"][0]["embedding"]]
    assert result.provider == provider
    assert result.usage is not None
    assert result.usage.prompt_tokens == recorded["usage"]["prompt_tokens"]
    sent = router.last("POST", path).json()
    assert sent == {"input": [text], "model": "E5-Mistral-7B-Instruct", "dimensions": 4096}


async def test_provider_chosen_by_name_suffix_or_mapping_order(router: FakeRouter) -> None:
    served(router, "org/emb", together="t/emb", hf_inference="org/emb")
    router.image_routes["together"] = counting_server()
    router.image_routes["hf-inference"] = counting_server()
    assert (await hfinfer.embed("org/emb", "x")).provider == "together"  # first listed
    assert (await hfinfer.embed("org/emb:hf-inference", "x")).provider == "hf-inference"
    assert (await hfinfer.embed("org/emb", "x", provider="hf-inference")).provider == "hf-inference"
    assert (await hfinfer.embed("org/emb:cheapest", "x")).provider == "together"
    with pytest.raises(ModelNotSupportedError, match="does not embed"):
        await hfinfer.embed("org/emb", "x", provider="nscale")


async def test_a_model_nobody_embeds_is_refused_before_sending(router: FakeRouter) -> None:
    router.add_chat_model("org/chat")
    with pytest.raises(ModelNotSupportedError, match="No provider hfinfer speaks embeds"):
        await hfinfer.embed("org/chat", "x")
    assert router.count("POST", "/") == 0


async def test_long_lists_are_batched_in_order(router: FakeRouter) -> None:
    served(router, "org/emb", hf_inference="org/emb")
    router.image_routes["hf-inference"] = counting_server()
    texts = [f"text number {i}" + "!" * (i % 5) for i in range(70)]
    result = await hfinfer.embed("org/emb", texts)
    assert [v[0] for v in result.vectors] == [float(len(t)) for t in texts]
    assert [v[1] for v in result.vectors] == [float(i % 32) for i in range(70)]
    sent = [r.json()["inputs"] for r in router.requests if r.method == "POST"]
    assert [len(batch) for batch in sent] == [32, 32, 6]
    small = await hfinfer.embed("org/emb", texts[:5], batch_size=2)
    assert len(small) == 5


async def test_usage_is_summed_over_batches(router: FakeRouter) -> None:
    served(router, "org/emb", together="t/emb")
    router.image_routes["together"] = counting_server()
    result = await hfinfer.embed("org/emb", ["a"] * 5, batch_size=2)
    assert result.usage is not None and result.usage.prompt_tokens == 5


async def test_bad_arguments_are_our_errors(router: FakeRouter) -> None:
    served(router, "org/emb", hf_inference="org/emb")
    for inputs in ([], [1, 2], None):
        with pytest.raises(InvalidRequestError, match="inputs"):
            await hfinfer.embed("org/emb", inputs)  # type: ignore[arg-type]
    with pytest.raises(InvalidRequestError, match="dimensions"):
        await hfinfer.embed("org/emb", "x", dimensions=8)  # hf-inference has no such field
    with pytest.raises(InvalidRequestError, match="batch_size"):
        await hfinfer.embed("org/emb", "x", batch_size=0)
    with pytest.raises(InvalidRequestError, match="model id"):
        await hfinfer.embed("", "x")
    assert router.count("POST", "/") == 0


async def test_an_answer_with_the_wrong_count_is_refused(router: FakeRouter) -> None:
    served(router, "org/emb", hf_inference="org/emb")
    router.script("POST", PIPELINE.format("org/emb"), json_reply([[1.0, 2.0]]))
    with pytest.raises(ResponseError, match="Asked for 2 embeddings"):
        await hfinfer.embed("org/emb", ["a", "b"])


# -- servers of one's own --------------------------------------------------------------


@pytest.fixture
async def own() -> AsyncIterator[FakeHF]:
    async with FakeHF() as server:
        yield server


async def test_a_tei_server(own: FakeHF) -> None:
    own.script("POST", "/embed", json_reply([[0.5, 0.25], [1.0, 2.0]]))
    client = AsyncClient(api_base=own.url, route="tgi")
    result = await client.embed("", ["a", "b"], normalize=False)
    assert result.vectors == [[0.5, 0.25], [1.0, 2.0]] and result.provider is None
    assert own.last("POST", "/embed").json() == {"inputs": ["a", "b"], "normalize": False}
    with pytest.raises(InvalidRequestError, match="provider="):
        await client.embed("m", "a", provider="together")


async def test_an_openai_compatible_server_with_base64(own: FakeHF) -> None:
    floats = [0.5, -1.25, 3.0]
    packed = base64.b64encode(struct.pack("<3f", *floats)).decode()
    data = [{"object": "embedding", "index": 0, "embedding": packed}]
    own.script("POST", "/v1/embeddings", json_reply({"data": data, "usage": {"prompt_tokens": 2}}))
    client = AsyncClient(api_base=f"{own.url}/v1", route="openai")
    result = await client.embed("my-model", "hello", encoding_format="base64", dimensions=3)
    assert result.vectors == [floats] and result.usage is not None
    sent = own.last("POST", "/v1/embeddings").json()
    assert sent == {
        "input": ["hello"],
        "model": "my-model",
        "dimensions": 3,
        "encoding_format": "base64",
    }


async def test_protocol_can_be_named(own: FakeHF) -> None:
    data = [{"object": "embedding", "index": 0, "embedding": [2.0, 0.0]}]
    own.script("POST", "/v1/embeddings", json_reply({"data": data}))
    client = AsyncClient(api_base=own.url, route="tgi")
    result = await client.embed("m", "ab", protocol="openai")
    assert result.vectors == [[2.0, 0.0]] and result.usage is None
    with pytest.raises(InvalidRequestError, match="protocol"):
        await client.embed("m", "ab", protocol="grpc")


async def test_a_tei_endpoint_given_as_the_model(own: FakeHF) -> None:
    own.script("POST", "/embed", json_reply([[1.0]]))
    result = await AsyncClient(route="tgi").embed(own.url, "a")
    assert result.vectors == [[1.0]]


# -- the builders, pure ----------------------------------------------------------------


def test_mean_pool_shapes() -> None:
    assert mean_pool([1.0, 2.0]) == [1.0, 2.0]
    assert mean_pool([[1.0, 2.0]]) == [1.0, 2.0]
    assert mean_pool([[[1.0, 3.0], [3.0, 5.0]]]) == [2.0, 4.0]
    with pytest.raises(ResponseError):
        mean_pool([[1.0], [1.0, 2.0]])
    with pytest.raises(ResponseError):
        mean_pool(["x"])


def test_builders_refuse_what_their_protocol_lacks() -> None:
    with pytest.raises(InvalidRequestError, match="encoding_format"):
        HFInferenceEmbeddings().request("m", ["a"], encoding_format="base64")
    with pytest.raises(InvalidRequestError, match="encoding_format"):
        OpenAIEmbeddings("together").request("m", ["a"], encoding_format="int8")
    with pytest.raises(InvalidRequestError, match="dimensions"):
        OpenAIEmbeddings("together").request("m", ["a"], dimensions=0)
    request = OpenAIEmbeddings("together").request("m", "a", extra={"user": "u"})
    assert request.payload == {"input": ["a"], "model": "m", "user": "u"}


async def test_an_openai_route_without_v1_in_the_base(own: FakeHF) -> None:
    data = [{"index": 1, "embedding": [2.0]}, {"index": 0, "embedding": [1.0]}]
    own.script("POST", "/v1/embeddings", json_reply({"data": data}))
    result = await AsyncClient(api_base=own.url, route="openai", api_key="own-key").embed(
        "m", ["a", "b"]
    )
    assert result.vectors == [[1.0], [2.0]]  # put back in input order
    assert own.last("POST", "/v1/embeddings").headers["authorization"] == "Bearer own-key"


# -- sentence similarity -----------------------------------------------------------------

SIMILARITY = "TestInferenceClient.test_sentence_similarity[hf-inference,sentence-similarity].yaml"


async def test_recorded_sentence_similarity(router: FakeRouter) -> None:
    generation = load_cassette(SIMILARITY)[-1]
    model = "sentence-transformers/all-MiniLM-L6-v2"
    router.models[model] = {
        "id": model,
        "inferenceProviderMapping": {
            "hf-inference": {"status": "live", "providerId": model, "task": "sentence-similarity"}
        },
    }
    path = f"/hf-inference/models/{model}/pipeline/sentence-similarity"
    router.script("POST", path, generation.reply())
    asked = json.loads(generation.request_body)
    scores = await AsyncClient().similarity(model, asked["source_sentence"], asked["sentences"])
    assert scores == json.loads(generation.body)
    sent = router.last("POST", path).json()
    assert sent == {
        "inputs": {"source_sentence": asked["source_sentence"], "sentences": asked["sentences"]}
    }


async def test_similarity_from_embeddings_elsewhere(router: FakeRouter, own: FakeHF) -> None:
    served(router, "org/emb", together="t/emb")
    data = [
        {"index": 0, "embedding": [1.0, 0.0]},
        {"index": 1, "embedding": [0.0, 2.0]},
        {"index": 2, "embedding": [3.0, 0.0]},
    ]
    router.script("POST", "/together/v1/embeddings", json_reply({"data": data}))
    assert await AsyncClient().similarity("org/emb", "a", ["b", "c"]) == [0.0, 1.0]
    own.script("POST", "/embed", json_reply([[1.0, 1.0], [1.0, 1.0]]))
    tei = AsyncClient(api_base=own.url, route="tgi")
    assert await tei.similarity("", "a", ["b"]) == [pytest.approx(1.0)]
    with pytest.raises(InvalidRequestError):
        await tei.similarity("", "", ["b"])


@pytest.mark.parametrize(
    "provider_id", ["../../api/whoami-v2", "org/../x", "%2e%2e/x", "m?x=1", "a//b", "/m"]
)
async def test_a_bad_provider_id_is_never_sent_for_embeddings_or_similarity(
    router: FakeRouter, provider_id: str
) -> None:
    served(router, "org/emb", hf_inference=provider_id)
    with pytest.raises(InvalidRequestError, match="not a valid provider model id"):
        await hfinfer.embed("org/emb", "x")
    router.models["org/sim"] = {
        "id": "org/sim",
        "inferenceProviderMapping": {
            "hf-inference": {
                "status": "live", "providerId": provider_id, "task": "sentence-similarity"
            }
        },
    }  # fmt: skip
    with pytest.raises(InvalidRequestError, match="not a valid provider model id"):
        await AsyncClient().similarity("org/sim", "a", ["b"])
    assert [r.path for r in router.requests if r.method == "POST"] == []
