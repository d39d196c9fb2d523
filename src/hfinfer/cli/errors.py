"""Errors in the command line's own words.

The library's messages speak to programmers (``pass api_key=...``, ``the
text so far is in .partial_text``, an exception's repr); a person at the
command line needs the option to use and nothing about attributes.
"""

from __future__ import annotations

import re

from ..errors import (
    AuthenticationError,
    ConnectionError,
    HFInferenceError,
    StreamError,
    TimeoutError,
)

__all__ = ["describe_error"]

# (library wording, the command line's): phrases the library addresses to code.
_REWORDED = (
    (re.compile(r"\s*The text so far is in \.partial_text\.?"), ""),
    (re.compile(r"pass api_key=\.\.\.,? ?", re.IGNORECASE), "pass --token, "),
    (re.compile(r"Pass api_key=\.\.\. or set HF_TOKEN"), "Use --token or set HF_TOKEN"),
    (re.compile(r"use api_base='([^']*)'"), r"use --api-base \1"),
    (re.compile(r"Use api_base='([^']*)'"), r"Use --api-base \1"),
    (re.compile(r"api_key=\.\.\."), "--token"),
    (re.compile(r"\buse chat\(\)"), "use `hfinfer chat`"),
    (re.compile(r"\bprovider=\.\.\."), "--provider NAME"),
    (re.compile(r"\bprovider=(['\"]?)([\w.-]+)\1"), r"--provider \2"),
    (re.compile(r"HuggingFaceRouter\.get_models\(\)"), "`hfinfer models`"),
    (re.compile(r"HuggingFaceInference\(api_base=\.\.\.\)"), "--api-base URL"),
)
# An exception's repr inside a message: ClientPayloadError('Response payload ...').
_REPR = re.compile(r"\b[A-Z]\w*(?:Error|Exception)\((['\"])(.*?)\1(?:, [^)]*)?\)")


def describe_error(error: BaseException) -> str:
    """One or two lines for a person: what went wrong and what to do."""
    if isinstance(error, HFInferenceError):
        text = str(error)
        for pattern, replacement in _REWORDED:
            text = pattern.sub(replacement, text)
        text = _REPR.sub(lambda m: m.group(2), text).strip()
        if isinstance(error, (StreamError, TimeoutError)) and error.partial_text:
            text += " (what arrived before is kept)"
        if isinstance(error, ConnectionError) and not text:
            text = "the server could not be reached"
        if isinstance(error, AuthenticationError) and "--token" not in text:
            text += " Use --token or set HF_TOKEN."
        return text or type(error).__name__
    if isinstance(error, OSError):
        return error.strerror or str(error)
    return f"unexpected {type(error).__name__}; run with -v for the details"
