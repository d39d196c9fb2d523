"""Every command's --help shows an example, and shell completion works as documented."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from cliproc import run
from hfinfer.cli.main import cli


def command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = [prefix]
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            paths.extend(command_paths(command, (*prefix, name)))
        else:
            paths.append((*prefix, name))
    return paths


@pytest.mark.parametrize("path", command_paths(cli), ids=lambda p: " ".join(p) or "hfinfer")
def test_every_help_has_an_example(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example" in result.output, f"`hfinfer {' '.join(path)} --help` shows no example"


def test_the_group_help_documents_completion_and_the_default_command() -> None:
    result = run("--help")
    assert result.returncode == 0
    assert "_HFINFER_COMPLETE=bash_source hfinfer" in result.stdout
    assert "chat is the default command" in result.stdout


def test_shell_completion() -> None:
    script = run(env={"_HFINFER_COMPLETE": "bash_source"})
    assert script.returncode == 0 and "complete" in script.stdout and "hfinfer" in script.stdout
    words = run(env=complete("hfinfer lo", 1))
    assert "logs" in words.stdout
    options = run(env=complete("hfinfer chat --no-", 2))
    assert "--no-log" in options.stdout and "--no-render" in options.stdout


def complete(line: str, word: int) -> dict[str, str]:
    """What bash sets when it asks for completions of ``line``."""
    return {"_HFINFER_COMPLETE": "bash_complete", "COMP_WORDS": line, "COMP_CWORD": str(word)}
