"""The ``hfinfer`` command: the answer on stdout, everything else on stderr.

Exit codes: 0 success, 1 an hfinfer error (message on stderr, no traceback),
2 a usage error, 130 interrupted. Each command lives in its own module; this
one holds the group and registers them.
"""

from __future__ import annotations

import click

from .._version import __version__
from .batch import batch
from .chat import chat
from .embed import embed
from .group import HFInferGroup
from .image import image
from .logs import logs
from .models import models
from .prompt import prompt
from .serve import serve

__all__ = ["cli", "main"]


GROUP_EPILOG = """\b
Examples:
  hfinfer "Name three primes"         (chat is the default command)
  echo notes | hfinfer chat "Summarize"
  hfinfer chat                        a conversation, on a terminal
  hfinfer logs list -n 5
  hfinfer models --search qwen
  hfinfer image "a red fox in snow" -o fox.png

\b
Shell completion (bash; for zsh or fish, zsh_source or fish_source):
  eval "$(_HFINFER_COMPLETE=bash_source hfinfer)"
"""


@click.group(
    cls=HFInferGroup,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog=GROUP_EPILOG,
)
@click.version_option(__version__, prog_name="hfinfer")
@click.option("-v", "--verbose", count=True, help="Log to stderr (-v info, -vv debug); anywhere.")
def cli(verbose: int) -> None:
    """Chat, generate text and images with models hosted on Hugging Face."""
    # -v is taken from anywhere on the line by HFInferGroup.parse_args, which sets up logging.


cli.add_command(chat)
cli.add_command(embed)
cli.add_command(image)
cli.add_command(prompt)
cli.add_command(models)
cli.add_command(serve)
cli.add_command(batch)
cli.add_command(logs)


def main() -> None:
    """The ``hfinfer`` script: a failure nobody foresaw is one line, not a traceback
    (with -v, the traceback too)."""
    from . import group
    from .errors import describe_error

    try:
        cli(prog_name="hfinfer")
    except Exception as exc:
        if group.verbosity_given:
            raise
        click.echo(f"error: {describe_error(exc)} (a bug in hfinfer? please report it)", err=True)
        raise SystemExit(1) from None
