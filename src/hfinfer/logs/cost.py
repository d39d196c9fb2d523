"""What a turn cost, estimated from the provider's advertised prices. Pure."""

from __future__ import annotations

import math
from typing import Protocol

__all__ = ["Priced", "estimate_cost", "format_cost"]


class Priced(Protocol):
    """Anything with prices in USD per million tokens (``hfinfer``'s ``ProviderOffer``)."""

    @property
    def input_price(self) -> float | None: ...

    @property
    def output_price(self) -> float | None: ...


def estimate_cost(
    prompt_tokens: int | None, completion_tokens: int | None, offer: Priced | None
) -> float | None:
    """USD for the tokens at ``offer``'s prices; ``None`` when a count or a needed
    price is unknown (a free count of zero tokens needs no price)."""
    if offer is None or prompt_tokens is None or completion_tokens is None:
        return None
    total = 0.0
    for tokens, price in (
        (prompt_tokens, offer.input_price),
        (completion_tokens, offer.output_price),
    ):
        if tokens:
            if price is None:
                return None
            total += tokens * price / 1_000_000
    return total


def format_cost(usd: float | None) -> str:
    """``$1.23``, ``$0.0012``, ``$0.0000028``; ``"cost unknown"`` for ``None``."""
    if usd is None:
        return "cost unknown"
    if usd == 0:
        return "$0"
    if usd < 1e-9:
        return "<$0.000000001"
    if usd < 0.01:  # two significant digits: $0.0012, $0.0000028
        decimals = 1 - math.floor(math.log10(usd))
        return "$" + f"{usd:.{decimals}f}".rstrip("0")
    return f"${usd:.2f}"
