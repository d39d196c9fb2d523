"""Hermetic tests: the environment is isolated, servers are real local servers."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from hfinfer import HuggingFaceInference, HuggingFaceRouter
from hfinfer.providers.discovery import known_servers
from hfserver import FakeHF, running_in_thread


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """No HF_*/HFINFER_* from the machine; HF_HOME in a temporary folder; empty caches."""
    for name in list(os.environ):
        if name.startswith(("HF_", "HFINFER_", "HUGGING_FACE_")) or name.lower().endswith("_proxy"):
            monkeypatch.delenv(name, raising=False)
    home = tmp_path / "hf_home"
    home.mkdir()
    monkeypatch.setenv("HF_HOME", str(home))
    # Nothing in a test may reach a real host by accident.
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("HFINFER_API_BASE", "http://127.0.0.1:9")
    monkeypatch.setenv("HF_ROUTER_URL", "http://127.0.0.1:9")
    _clear_provider_caches()
    yield home
    _clear_provider_caches()


def _clear_provider_caches() -> None:
    HuggingFaceInference.clear_caches()
    HuggingFaceRouter.clear_caches()
    # Ports are reused between tests: what a server said about itself must not leak.
    known_servers.clear()


@pytest.fixture
async def hf(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeHF]:
    """A local Hub + inference server; HF_ENDPOINT and the inference base point at it."""
    server = FakeHF()
    await server.start()
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    monkeypatch.setenv("HFINFER_API_BASE", server.url)
    monkeypatch.setenv("HF_ROUTER_URL", server.url)
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
def hf_sync(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHF]:
    """The same server on a loop in a thread, for tests of the blocking API.

    It serves a text model ``org/m`` and an image model ``org/img``. It is the
    Hub and the text-generation base, not the router (it does not speak the
    router's protocol): a base equal to the router's URL takes the router.
    """
    server = FakeHF()
    server.add_text_model("org/m")
    server.add_image_model("org/img")
    with running_in_thread(server):
        for name in ("HF_ENDPOINT", "HFINFER_API_BASE"):
            monkeypatch.setenv(name, server.url)
        yield server
