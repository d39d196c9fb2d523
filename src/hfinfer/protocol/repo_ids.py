"""Hub repo ids: which strings are one, and how one goes into a URL path. Pure.

The rules are huggingface_hub's ``validate_repo_id``: ``name`` or
``namespace/name``; letters, digits, ``-``, ``_`` and ``.``; each part starts and
ends with a letter, digit or ``_``; no ``--`` or ``..``; the name is at most 96
characters and does not end in ``.git``. (huggingface_hub's pattern also lets
non-ASCII letters through; the Hub itself does not create such names, and here
they are refused, so that nothing but these characters ever reaches a URL.)

An id that passes needs no escaping, so ``../``, ``%2e%2e/``, ``?x=1`` or ``#``
can never change the path or the query of a request built from it.
"""

from __future__ import annotations

import re
from typing import TypeGuard
from urllib.parse import quote

from ..errors import InvalidRequestError

__all__ = ["check_repo_id", "is_repo_id", "repo_path"]

_PART = r"[A-Za-z0-9_](?:[A-Za-z0-9_.\-]*[A-Za-z0-9_])?"
_REPO_ID = re.compile(rf"(?:{_PART}/)?{_PART}")
MAX_NAME = 96


def check_repo_id(repo_id: str) -> str:
    """``repo_id`` when it is a valid Hub id, else :class:`InvalidRequestError`
    saying what is wrong (raised before any request is made)."""
    if not isinstance(repo_id, str) or not repo_id:
        raise InvalidRequestError(f"A model id must be a non-empty string, got {repo_id!r}.")
    problem = _problem(repo_id)
    if problem:
        raise InvalidRequestError(
            f"{repo_id[:200]!r} is not a Hub model id ({problem}). A model id is 'name' or "
            "'owner/name' (letters, digits, '-', '_', '.'), or a server's URL."
        )
    return repo_id


def is_repo_id(value: object) -> TypeGuard[str]:
    """Whether ``value`` is a valid Hub id (a server's word, such as ``/info``'s
    ``model_id``, is checked with this before it is used)."""
    return isinstance(value, str) and bool(value) and _problem(value) is None


def _problem(repo_id: str) -> str | None:
    if repo_id.count("/") > 1:
        return "more than one '/'"
    if not _REPO_ID.fullmatch(repo_id):
        return (
            "only letters, digits, '-', '_' and '.' are allowed, and no part may start "
            "or end with '-' or '.'"
        )
    if "--" in repo_id or ".." in repo_id:
        return "'--' and '..' are not allowed"
    if len(repo_id.rpartition("/")[2]) > MAX_NAME:
        return f"the name is longer than {MAX_NAME} characters"
    if repo_id.endswith(".git"):
        return "it ends in '.git'"
    return None


def repo_path(repo_id: str) -> str:
    """The id as a URL path (checked; ``owner/name`` keeps its one ``/``). Every URL
    built from a model id goes through here."""
    return quote(check_repo_id(repo_id), safe="/")
