"""The import rules of the package, held by reading every module's imports.

Arrows point down: a module imports only its own layer or those below it.
``protocol/``, ``prompts/`` and ``reasoning.py`` are pure (no I/O); only
``http/`` imports aiohttp, only ``cli/`` click and rich, only ``server/``
starlette and uvicorn; the faces (``cli/``, ``server/``, ``batch/``) use the
public client and never ``http/``, ``hub/``, the providers or private names.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import hfinfer

PACKAGE = Path(hfinfer.__file__).parent

#: Lowest first. A module's layer is that of its longest matching prefix.
LAYERS: dict[str, int] = {
    "hfinfer._version": 0,
    "hfinfer.errors": 0,
    "hfinfer.types": 0,
    "hfinfer.model_info": 0,
    "hfinfer.hosts": 0,
    "hfinfer.closing": 0,
    "hfinfer.backoff": 0,
    "hfinfer.config": 1,
    "hfinfer.prompts": 2,
    "hfinfer.protocol": 2,
    "hfinfer.reasoning": 2,
    "hfinfer.http": 3,
    "hfinfer.hub": 4,
    "hfinfer.providers": 5,
    "hfinfer.client": 6,
    "hfinfer.logs": 6,
    "hfinfer.cli": 7,
    "hfinfer.server": 7,
    "hfinfer.batch": 7,
    "hfinfer": 8,  # the package's own __init__ gathers the public names
}
PURE = (
    "hfinfer.protocol",
    "hfinfer.prompts",
    "hfinfer.reasoning",
    "hfinfer.model_info",
    "hfinfer.hosts",
)
#: What pure code must not reach for: the network, the loop, the disk's HTTP cousins.
IMPURE = ("aiohttp", "asyncio", "socket", "ssl", "urllib.request", "hfinfer.http", "hfinfer.hub")
ONLY_UNDER = {
    "aiohttp": "hfinfer.http",
    "aiohttp_socks": "hfinfer.http",
    "click": "hfinfer.cli",
    "rich": "hfinfer.cli",
    "starlette": "hfinfer.server",
    "uvicorn": "hfinfer.server",
}
FACES = ("hfinfer.cli", "hfinfer.server", "hfinfer.batch")
NOT_FOR_FACES = ("hfinfer.http", "hfinfer.hub", "hfinfer.providers")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(source: str, module: str, is_package: bool) -> Iterator[tuple[str, list[str]]]:
    """Every import in ``source`` (module level or not): the absolute module, and
    the names taken from it."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, []
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            yield base, [alias.name for alias in node.names]


def layer_of(module: str) -> int:
    matches = [p for p in LAYERS if module == p or module.startswith(p + ".")]
    return LAYERS[max(matches, key=len)]


def under(module: str, prefixes: str | tuple[str, ...]) -> bool:
    prefixes = (prefixes,) if isinstance(prefixes, str) else prefixes
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def violations(module: str, source: str, is_package: bool = False) -> list[str]:
    """What ``module`` imports against the rules, in words."""
    found = []
    for target, names in imports(source, module, is_package):
        top = target.split(".")[0]
        owner = ONLY_UNDER.get(top)
        if owner is not None and not under(module, owner):
            found.append(f"{module} imports {target}: only {owner} may")
        if under(module, PURE) and under(target, IMPURE):
            found.append(f"{module} is pure but imports {target}")
        if top != "hfinfer":
            continue
        if target in ("hfinfer",) and under(module, FACES):
            candidates = [f"hfinfer.{n}" for n in names]
        else:
            candidates = [target]
        for name in candidates:
            known = name in LAYERS or under(name, tuple(p for p in LAYERS if p != "hfinfer"))
            if known and layer_of(name) > layer_of(module):
                found.append(f"{module} imports {name}, a layer above it")
        if under(module, FACES):
            if under(target, NOT_FOR_FACES):
                found.append(f"the face {module} imports {target}")
            private = [n for n in names if n.startswith("_") and n != "__version__"]
            if private and not under(target, FACES):
                found.append(f"the face {module} imports private names {private} of {target}")
    return found


def all_modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", all_modules(), ids=lambda p: module_name(p))
def test_module_keeps_the_layers(path: Path) -> None:
    module = module_name(path)
    assert violations(module, path.read_text(encoding="utf-8"), path.name == "__init__.py") == []


@pytest.mark.parametrize(
    ("module", "source", "words"),
    [
        ("hfinfer.protocol.sse", "import aiohttp", "only hfinfer.http may"),
        ("hfinfer.protocol.sse", "import asyncio", "is pure"),
        ("hfinfer.prompts.select", "from ..hub import metadata", "is pure"),
        ("hfinfer.providers.pooled", "import click", "only hfinfer.cli may"),
        ("hfinfer.client", "from rich import print", "only hfinfer.cli may"),
        ("hfinfer.http.session", "from ..client import AsyncClient", "a layer above"),
        ("hfinfer.errors", "from .config import Timeouts", "a layer above"),
        ("hfinfer.cli.chat", "from ..http.session import HttpClient", "the face"),
        ("hfinfer.cli.chat", "from ..providers.hf_inference import X", "the face"),
        ("hfinfer.server.app", "from ..client import _json_ready", "private names"),
        ("hfinfer.batch.runner", "import starlette", "only hfinfer.server may"),
        ("hfinfer.cli.serve", "import uvicorn", "only hfinfer.server may"),
    ],
)
def test_the_checker_sees_each_kind_of_breach(module: str, source: str, words: str) -> None:
    found = violations(module, source)
    assert any(words in line for line in found), found


def test_the_checker_allows_what_the_rules_allow() -> None:
    assert violations("hfinfer.cli.chat", "from ..client import AsyncClient\nimport click") == []
    assert violations("hfinfer.server.app", "import starlette\nfrom ..errors import X") == []
    assert violations("hfinfer.providers.hf_router", "from ..http.session import X") == []
    for module in ("router_chat", "router_images", "router_models"):
        source = "from ..http.session import X\nfrom ..hub.cache import Y"
        assert violations(f"hfinfer.providers.{module}", source) == []
    assert violations("hfinfer.http.session", "import aiohttp\nfrom ..errors import X") == []
