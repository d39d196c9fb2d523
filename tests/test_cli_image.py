"""``hfinfer image``: -o decides the file, nothing is overwritten without --force, and a
text-to-image model nobody serves gets a clear error (not a chat request)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cliproc import router_for_cli, run
from hfserver import PNG_1PX
from routerserver import FakeRouter

IMAGE_ROUTE = "/hf-inference/models/org/img"


@pytest.fixture
def router(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeRouter]:
    with router_for_cli(monkeypatch) as server:
        server.add_image_model("org/img")
        server.models["org/img"]["inferenceProviderMapping"] = {
            "hf-inference": {"status": "live", "providerId": "org/img", "task": "text-to-image"}
        }
        yield server


def image_requests(router: FakeRouter) -> int:
    return sum(1 for r in router.requests if r.path == IMAGE_ROUTE)


def test_default_name_from_the_prompt_never_overwrites(router: FakeRouter, tmp_path: Path) -> None:
    first = run("image", "A red dot, tiny!", "-m", "org/img", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == "a-red-dot-tiny.png"
    second = run("image", "A red dot, tiny!", "-m", "org/img", cwd=tmp_path)
    assert second.stdout.strip() == "a-red-dot-tiny-2.png"
    assert (tmp_path / "a-red-dot-tiny.png").read_bytes() == PNG_1PX
    assert (tmp_path / "a-red-dot-tiny-2.png").read_bytes() == PNG_1PX


def test_a_folder_gets_a_generated_name(router: FakeRouter, tmp_path: Path) -> None:
    folder = tmp_path / "pictures"
    folder.mkdir()
    result = run("image", "blue square", "-m", "org/img", "-o", f"{folder}/")
    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.strip()) == folder / "blue-square.png"
    assert (folder / "blue-square.png").read_bytes() == PNG_1PX
    assert not (tmp_path / "pictures.png").exists()


def test_the_real_type_decides_the_extension_and_says_so(
    router: FakeRouter, tmp_path: Path
) -> None:
    result = run("image", "dot", "-m", "org/img", "-o", str(tmp_path / "dot.jpg"))
    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.strip()) == tmp_path / "dot.png"
    assert (tmp_path / "dot.png").read_bytes() == PNG_1PX  # PNG bytes under a PNG name
    assert not (tmp_path / "dot.jpg").exists()
    assert "PNG" in result.stderr and "dot.png" in result.stderr


def test_an_existing_file_is_kept_unless_force(router: FakeRouter, tmp_path: Path) -> None:
    target = tmp_path / "keep.png"
    target.write_bytes(b"precious")
    refused = run("image", "dot", "-m", "org/img", "-o", str(target))
    assert refused.returncode == 1
    assert "exists" in refused.stderr and "--force" in refused.stderr
    assert target.read_bytes() == b"precious"
    assert image_requests(router) == 0  # refused before anything was sent
    forced = run("image", "dot", "-m", "org/img", "-o", str(target), "--force")
    assert forced.returncode == 0, forced.stderr
    assert target.read_bytes() == PNG_1PX


def test_an_image_model_nobody_serves_is_a_clear_error(router: FakeRouter, tmp_path: Path) -> None:
    router.add_image_model("org/cold")
    router.models["org/cold"].pop("inferenceProviderMapping", None)
    router.add_image_model("org/staged")
    router.models["org/staged"]["inferenceProviderMapping"] = {
        "fal-ai": {"status": "staging", "providerId": "x", "task": "text-to-image"}
    }
    for model in ("org/cold", "org/staged"):
        result = run("image", "dot", "-m", model, "-o", str(tmp_path / "x.png"))
        assert result.returncode == 1
        assert model in result.stderr and "text-to-image" in result.stderr
        assert "answered with text" not in result.stderr and "Traceback" not in result.stderr
    assert not [r for r in router.requests if r.path == "/v1/chat/completions"]
    assert not (tmp_path / "x.png").exists()
