"""``bench/RESULTS.md`` is shared: sections marked ``<!-- BEGIN name -->`` ...
``<!-- END name -->`` belong to whoever writes them (the gateway's and the batch
runner's benchmarks write theirs). This module rewrites only the streaming bench's
own sections and keeps every other one as it was, byte for byte.

Layout written: the title, the bench's leading sections (the paced regime first,
the headline), every foreign section in its old order, then the bench's trailing
sections, if any. A section of ours that this run did not measure keeps its
old text. Text outside any marked section is ours (an older, unmarked report)
and is replaced.
"""

from __future__ import annotations

import re

__all__ = ["merge", "parse", "wrap"]

_SECTION = re.compile(
    r"^<!-- BEGIN (?P<name>[\w.-]+) -->\n(?P<body>.*?)^<!-- END (?P=name) -->\n?",
    re.MULTILINE | re.DOTALL,
)


def wrap(name: str, body: str) -> str:
    """``body`` between the markers of section ``name``."""
    return f"<!-- BEGIN {name} -->\n{body.rstrip()}\n<!-- END {name} -->\n"


def parse(text: str) -> list[tuple[str, str]]:
    """``(name, whole marked text)`` of every section in ``text``, in order."""
    return [
        (m["name"], m[0] if m[0].endswith("\n") else m[0] + "\n") for m in _SECTION.finditer(text)
    ]


def merge(
    old: str,
    title: str,
    leading: list[tuple[str, str | None]],
    trailing: list[tuple[str, str | None]],
) -> str:
    """The new file: ``title``, ``leading`` sections, the foreign sections of ``old``,
    ``trailing`` sections. A ``(name, None)`` entry keeps that section's old text
    (or leaves it out when ``old`` has none)."""
    found = dict(parse(old))
    ours = {name for name, _ in leading + trailing}

    def render(entries: list[tuple[str, str | None]]) -> list[str]:
        out = []
        for name, body in entries:
            if body is not None:
                out.append(wrap(name, body))
            elif name in found:
                out.append(found[name])
        return out

    foreign = [text for name, text in parse(old) if name not in ours]
    parts = [title.rstrip() + "\n", *render(leading), *foreign, *render(trailing)]
    return "\n".join(parts)
