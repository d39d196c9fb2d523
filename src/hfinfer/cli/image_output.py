"""Where ``hfinfer image`` writes: ``-o`` decides, nothing is overwritten without ``--force``.

- no ``-o``, or a folder: a name made from the prompt (``a-red-fox.png``), with
  ``-2``, ``-3``... when it is taken;
- a file: its name, with the extension of the image's real type (a ``.jpg``
  asked for a PNG is written as ``.png``, and the command says so);
- an existing file is an error before anything is sent, unless ``--force``;
  one that appears meanwhile gets the next free name instead.
"""

from __future__ import annotations

import mimetypes
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ImageTarget", "check_target", "extension_for", "plan_target", "slug"]

_SAME = {".jpeg": ".jpg", ".jpe": ".jpg", ".tif": ".tiff"}


def extension_for(media_type: str) -> str:
    """``.png`` for ``image/png``, ``.jpg`` for ``image/jpeg``; ``.bin`` when unknown."""
    extension = mimetypes.guess_extension(media_type.split(";")[0].strip()) or ".bin"
    return _SAME.get(extension, extension)


def slug(prompt: str, words: int = 6) -> str:
    """A file name from the prompt's first words: ``a-red-fox-in-snow``."""
    parts = re.findall(r"[a-z0-9]+", prompt.lower())[:words]
    return "-".join(parts)[:60] or "image"


def _is_folder(output: Path | None, raw: str | None) -> bool:
    return output is None or output.is_dir() or (raw or "").endswith(("/", "\\"))


def check_target(output: Path | None, raw: str | None, force: bool) -> str | None:
    """Before sending: the reason the named file cannot be written, or ``None``."""
    if _is_folder(output, raw) or force or output is None:
        return None
    if output.suffix and output.exists():
        return f"{output} exists; use --force to overwrite it, or another -o"
    if output.parent and not output.parent.exists():
        return f"the folder {output.parent} does not exist"
    return None


@dataclass(frozen=True)
class ImageTarget:
    """The file to write, and a note for the user when it is not what ``-o`` said."""

    path: Path
    note: str | None = None


def plan_target(
    output: Path | None, raw: str | None, prompt: str, media_type: str, *, force: bool
) -> ImageTarget:
    """The path for an image of ``media_type`` made from ``prompt``."""
    extension = extension_for(media_type)
    if _is_folder(output, raw):
        folder = output or Path(".")
        return ImageTarget(_free(folder / f"{slug(prompt)}{extension}"))
    assert output is not None
    note = None
    asked = _SAME.get(output.suffix.lower(), output.suffix.lower())
    if not output.suffix:
        path = output.with_suffix(extension)
    elif asked != extension:
        path = output.with_suffix(extension)
        kind = extension.lstrip(".").upper()
        note = f"the model made a {kind} image, so it is written as {path} (not {output})"
    else:
        path = output
    if force or not path.exists():
        return ImageTarget(path, note)
    free = _free(path)
    return ImageTarget(free, f"{path} exists; wrote {free} instead (--force overwrites)")


def _free(path: Path) -> Path:
    """``path``, or ``name-2.ext``, ``name-3.ext``... the first that does not exist."""
    candidate, number = path, 2
    while candidate.exists():
        candidate = path.with_name(f"{path.stem}-{number}{path.suffix}")
        number += 1
    return candidate
