"""Bounds on rendering a chat template: time and size.

A chat template is code from a repo anyone can publish. Jinja's sandbox keeps
it away from Python's internals, but not from running forever (nested loops,
an exponential macro) or from building a gigabyte (``'a' * 10**9``,
``"x"|center(10**9)``). Here every place where a template can spend time or
grow a value checks a budget set for one render:

- time: each loop iteration, each call (filters, methods, macros), each
  intercepted operator and each output piece checks the deadline;
- size: every operator, method, filter or output that can make a value larger
  than a constant factor of its inputs is checked before it runs (so the
  gigabyte is never allocated), and the output is counted as it is produced;
- the operators ``*``, ``**``, ``%`` and ``+`` are intercepted, which also
  stops Jinja from folding them at compile time (``'a' * 10**9`` used to be
  built by the compiler).

Pure: no I/O. The budget lives in a context variable, so renders in several
threads do not share it.
"""

from __future__ import annotations

import contextvars
import math
import operator
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from string import Formatter
from typing import Any

import jinja2.nodes as nodes
from jinja2 import pass_context, pass_eval_context
from jinja2.runtime import Context
from jinja2.visitor import NodeTransformer

__all__ = [
    "DEFAULT_RENDER_LIMITS",
    "RenderLimitExceeded",
    "RenderLimits",
    "guard_tree",
]

#: The filters the guarded tree calls (a template naming them gets the same harmless
#: check-and-pass-on).
LOOP_GUARD = "_hfinfer_loop"
CONCAT_GUARD = "_hfinfer_concat"


@dataclass(frozen=True)
class RenderLimits:
    """How long one render may take and how large its values and output may grow.

    - ``seconds`` (default 2): the real templates render a conversation in well
      under a millisecond and a 1,000-message one in tens of milliseconds, so 2 s
      is far above any honest template even on a loaded machine, and short
      enough that a hostile one costs one worker thread for 2 s.
    - ``max_chars`` (default 8 Mi characters): the longest contexts served today
      are about a million tokens, some 4 MB of text; twice that leaves room for
      any real prompt, and nothing longer could be sent to a model.
    """

    seconds: float = 2.0
    max_chars: int = 8 * 1024 * 1024


DEFAULT_RENDER_LIMITS = RenderLimits()

#: Integers from ``**`` and ``*`` past this many bits are refused (10**30000 is fine).
MAX_INT_BITS = 100_000


class RenderLimitExceeded(Exception):
    """A render went past its time or size budget (becomes a TemplateError)."""


class _Budget:
    __slots__ = ("deadline", "limits")

    def __init__(self, limits: RenderLimits) -> None:
        self.limits = limits
        self.deadline = time.monotonic() + limits.seconds


_budget: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar(
    "hfinfer_render_budget", default=None
)


def start_budget(limits: RenderLimits) -> contextvars.Token[_Budget | None]:
    """Open the budget of one render (``end_budget`` with the token closes it)."""
    return _budget.set(_Budget(limits))


def end_budget(token: contextvars.Token[_Budget | None]) -> None:
    _budget.reset(token)


def max_chars() -> int:
    budget = _budget.get()
    return (budget.limits if budget is not None else DEFAULT_RENDER_LIMITS).max_chars


def check_time() -> None:
    """Raise once the current render's deadline has passed."""
    budget = _budget.get()
    if budget is not None and time.monotonic() > budget.deadline:
        raise RenderLimitExceeded(
            f"it took longer than {budget.limits.seconds:g} s (the render time limit)"
        )


def check_size(size: int) -> None:
    """Raise when a value of ``size`` characters or items would pass the size limit."""
    limit = max_chars()
    if size > limit:
        raise RenderLimitExceeded(
            f"it would build a value of {size:,} characters or items, over the limit of {limit:,}"
        )


#: Values smaller than this are never checked against the budget (the common case,
#: kept cheap); the limit is meant for megabytes, not for a few kilobytes.
SMALL_SIZE = 64 * 1024


def _sized(value: Any) -> Any:
    if isinstance(value, (str, list, tuple)):
        check_size(len(value))
    return value


# -- operators --------------------------------------------------------------------

INTERCEPTED_BINOPS = frozenset({"*", "**", "%", "+"})


def _check_int_bits(bits: float) -> None:
    if bits > MAX_INT_BITS:
        raise RenderLimitExceeded(f"it would compute an integer of about {bits:,.0f} bits")


def _check_mul(left: Any, right: Any) -> None:
    for seq, times in ((left, right), (right, left)):
        if isinstance(seq, (str, list, tuple)) and isinstance(times, int):
            check_size(len(seq) * max(times, 0))
    if isinstance(left, int) and isinstance(right, int):
        _check_int_bits(left.bit_length() + right.bit_length())


def _check_pow(left: Any, right: Any) -> None:
    if isinstance(left, int) and isinstance(right, int) and right > 0 and abs(left) > 1:
        _check_int_bits(right * math.log2(abs(left)))


#: A printf width or precision: ``%-0999999999d``, ``%.99999999f``.
_PRINTF_NUMBER = re.compile(r"%[#0\- +]*(\d*)(?:\.(\d*))?")


def _check_printf(template: str) -> None:
    for match in _PRINTF_NUMBER.finditer(template):
        for number in match.groups():
            if number:
                check_size(int(number))


def _check_format_spec(template: str) -> None:
    """Widths and precisions in ``str.format`` fields (``{:>999999999}``)."""
    try:
        fields = list(Formatter().parse(template))
    except ValueError:
        return  # the call itself will fail with the formatter's own message
    for _, _, spec, _ in fields:
        if spec:
            for number in re.findall(r"\d+", spec):
                check_size(int(number))
            _check_format_spec(spec)  # nested fields: {:{width}}


def guarded_binop(operator_name: str, left: Any, right: Any) -> Any:
    """``left <op> right`` for the intercepted operators, after the size checks.

    ``+`` at most doubles what is already allowed, so it is checked after; ``int %
    int`` (``loop.index0 % 2``) needs no check. These two are the common ones."""
    if operator_name == "+":
        value = left + right
        if type(value) in (str, list, tuple) and len(value) > SMALL_SIZE:
            check_size(len(value))
        return value
    if operator_name == "%":
        if isinstance(left, str):
            _check_printf(left)
        return left % right
    check_time()
    if operator_name == "*":
        _check_mul(left, right)
        return left * right
    _check_pow(left, right)
    return operator.pow(left, right)


# -- calls ------------------------------------------------------------------------

_WIDTH_METHODS = frozenset({"center", "ljust", "rjust", "zfill"})


def check_call(func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Size checks before a call from the template: methods of ``str`` that can
    grow a value far past their inputs, and Jinja's ``lipsum``."""
    # The sandbox hands out str.format as a wrapper of the bound method.
    target = getattr(func, "__wrapped__", func)
    owner = getattr(target, "__self__", None)
    name = getattr(target, "__name__", "")
    if isinstance(owner, str):
        if name in _WIDTH_METHODS and args and isinstance(args[0], int):
            check_size(args[0])
        elif name == "expandtabs":
            tab = args[0] if args else kwargs.get("tabsize", 8)
            if isinstance(tab, int):
                check_size(len(owner) + owner.count("\t") * max(tab, 0))
        elif name == "replace" and len(args) >= 2:
            _check_replace(owner, args[0], args[1])
        elif name == "join" and args:
            _check_join(owner, args[0])
        elif name in ("format", "format_map"):
            _check_format_spec(owner)
    elif name == "generate_lorem_ipsum":  # Jinja's lipsum(n, html, min, max)
        paragraphs = args[0] if args else kwargs.get("n", 5)
        words = args[3] if len(args) > 3 else kwargs.get("max", 100)
        if isinstance(paragraphs, int) and isinstance(words, int):
            check_size(paragraphs * words * 10)


def _check_replace(text: Any, old: Any, new: Any) -> None:
    if isinstance(text, str) and isinstance(old, str) and isinstance(new, str):
        count = text.count(old) if old else len(text) + 1
        check_size(len(text) + count * (len(new) - len(old)))


def _check_join(separator: str, items: Any) -> None:
    if isinstance(items, (list, tuple)) and all(isinstance(i, str) for i in items):
        check_size(sum(map(len, items)) + len(separator) * max(len(items) - 1, 0))


def guarded_result(value: Any) -> Any:
    """A call's result, refused when it is larger than the size limit."""
    return _sized(value)


# -- the template's tree: loops and ``~`` ----------------------------------------


#: A loop over fewer items than this checks the deadline once, at its start (nested
#: small loops check at each inner start); a longer one checks at every item.
SMALL_LOOP = 32


@pass_context
def loop_guard(context: Context, iterable: Iterable[Any]) -> Iterable[Any]:
    """Every ``for`` loop iterates through this, checking the deadline."""
    check_time()
    if type(iterable) in (list, tuple, dict) and len(iterable) < SMALL_LOOP:  # type: ignore[arg-type]
        return iterable
    return _checked_items(iterable)


def _checked_items(iterable: Iterable[Any]) -> Iterator[Any]:
    for item in iterable:
        check_time()
        yield item


@pass_context
def concat_guard(context: Context, parts: tuple[Any, ...]) -> str:
    """``a ~ b``, counted before it is joined."""
    check_time()
    texts = [str(part) for part in parts]
    check_size(sum(map(len, texts)))
    return "".join(texts)


class _GuardLoopsAndConcat(NodeTransformer):
    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = _filter(node.iter, LOOP_GUARD, node.lineno)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return _filter(nodes.Tuple(list(node.nodes), "load"), CONCAT_GUARD, node.lineno)


def _filter(value: nodes.Node, name: str, lineno: int) -> nodes.Filter:
    return nodes.Filter(value, name, [], [], None, None, lineno=lineno)


def guard_tree(tree: nodes.Template) -> nodes.Template:
    """Route every loop's iterable through :func:`loop_guard` and every ``~`` through
    :func:`concat_guard`. Both take the context, so Jinja never folds them at
    compile time."""
    guarded: nodes.Template = _GuardLoopsAndConcat().visit(tree)
    return guarded


# -- filters that can grow a value far past their input ---------------------------


def guarded_filters(filters: dict[str, Callable[..., Any]]) -> dict[str, Callable[..., Any]]:
    """Replacements for the builtin filters whose output can dwarf their input."""
    center, indent, fmt = filters["center"], filters["indent"], filters["format"]
    replace, join, slice_, tojson = (
        filters["replace"],
        filters["join"],
        filters["slice"],
        filters["tojson"],
    )

    def do_center(value: Any, width: int = 80) -> Any:
        check_size(width if isinstance(width, int) else 0)
        return center(value, width)

    def do_indent(value: Any, width: Any = 4, first: bool = False, blank: bool = False) -> Any:
        if isinstance(value, str):
            unit = width if isinstance(width, int) else len(str(width))
            check_size(len(value) + (value.count("\n") + 1) * max(unit, 0))
        return indent(value, width, first, blank)

    def do_format(value: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(value, str):
            _check_printf(value)
        return _sized(fmt(value, *args, **kwargs))

    @pass_eval_context
    def do_replace(eval_ctx: Any, value: Any, old: Any, new: Any, count: Any = None) -> Any:
        _check_replace(value, old, new)
        return replace(eval_ctx, value, old, new, count)

    @pass_eval_context
    def do_join(eval_ctx: Any, value: Any, d: str = "", attribute: Any = None) -> Any:
        if attribute is None:
            _check_join(d, value)
        return _sized(join(eval_ctx, value, d, attribute))

    def do_slice(value: Any, slices: int, fill_with: Any = None) -> Any:
        if isinstance(slices, int):
            check_size(slices)  # it loops once per slice
        return slice_(value, slices, fill_with)

    def do_tojson(value: Any, *args: Any, **kwargs: Any) -> Any:
        indent = kwargs.get("indent", args[1] if len(args) > 1 else None)
        if isinstance(indent, int):
            # Each nested line repeats the indent: 1,024 spaces is far past any real use.
            check_size(indent * 8192)
        return _sized(tojson(value, *args, **kwargs))

    return {
        "center": do_center,
        "indent": do_indent,
        "format": do_format,
        "replace": do_replace,
        "join": do_join,
        "slice": do_slice,
        "tojson": do_tojson,
        LOOP_GUARD: loop_guard,
        CONCAT_GUARD: concat_guard,
    }


def bounded_concat(pieces: Iterable[str]) -> str:
    """Jinja's ``concat``, counted: it joins every captured block (``{% set %}...``,
    a macro's output, ``caller()``) and the whole output, as they are produced."""
    if type(pieces) is list:
        size = sum(map(len, pieces))
        if size > SMALL_SIZE:
            check_size(size)
        return "".join(pieces)
    joined: list[str] = []
    size, limit = 0, max_chars()
    for piece in pieces:
        size += len(piece)
        if size > limit:
            check_size(size)
        joined.append(piece)
    return "".join(joined)
