"""The ``hfinfer`` command: the answer on stdout, everything else on stderr.

Exit codes: 0 success, 1 an hfinfer error (message on stderr, no traceback),
2 a usage error, 130 interrupted. Each command lives in its own module; this
one holds the group and registers them.
"""

from __future__ import annotations

import sys

import click

from .._version import __version__
from .batch import batch
from .chat import chat
from .embed import embed
from .image import image
from .models import models
from .prompt import prompt
from .serve import serve

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="hfinfer")
@click.option("-v", "--verbose", count=True, help="Log to stderr (-v info, -vv debug).")
def cli(verbose: int) -> None:
    """Chat, generate text and images with models hosted on Hugging Face."""
    if verbose:
        import logging

        logging.basicConfig(
            level=logging.DEBUG if verbose > 1 else logging.INFO,
            stream=sys.stderr,
            format="%(levelname)s %(name)s: %(message)s",
        )


cli.add_command(chat)
cli.add_command(embed)
cli.add_command(image)
cli.add_command(prompt)
cli.add_command(models)
cli.add_command(serve)
cli.add_command(batch)


def main() -> None:
    cli(prog_name="hfinfer")
