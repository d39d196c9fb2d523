"""The ``hfinfer`` command group: ``chat`` is the default command, and ``-v`` works
anywhere on the line (``hfinfer chat -v "Hi"`` as well as ``hfinfer -v chat "Hi"``)."""

from __future__ import annotations

import logging
import sys

import click

__all__ = ["HFInferGroup", "configure_logging"]

_VERBOSE = {"-v": 1, "-vv": 2, "-vvv": 3, "--verbose": 1}

#: How many -v the running command was given (read by main() to show a traceback).
verbosity_given = 0


def configure_logging(verbosity: int) -> None:
    """``-v``: info on stderr; ``-vv``: debug (the token is redacted by the library)."""
    global verbosity_given
    verbosity_given = verbosity
    if verbosity <= 0:
        return
    logging.basicConfig(
        level=logging.DEBUG if verbosity > 1 else logging.INFO,
        stream=sys.stderr,
        format="%(levelname)s %(name)s: %(message)s",
    )


class HFInferGroup(click.Group):
    """A group whose first argument, when it names no command, is a prompt for
    ``default_command``; ``-v`` flags are taken from anywhere before ``--``."""

    default_command = "chat"

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        verbosity, kept = 0, []
        for index, arg in enumerate(args):
            if arg == "--":
                kept.extend(args[index:])
                break
            if arg in _VERBOSE:
                verbosity += _VERBOSE[arg]
            else:
                kept.append(arg)
        ctx.meta["hfinfer.verbosity"] = verbosity
        configure_logging(verbosity)
        if kept and self._starts_a_prompt(ctx, kept[0]):
            kept.insert(0, self.default_command)
        return super().parse_args(ctx, kept)

    def _starts_a_prompt(self, ctx: click.Context, first: str) -> bool:
        if first in self.commands:
            return False
        if first.startswith("-"):
            group_options = {name for param in self.params for name in param.opts}
            return first.split("=", 1)[0] not in group_options | set(ctx.help_option_names)
        return True
