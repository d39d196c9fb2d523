"""Token and cost estimates from the router's price list (USD per million tokens)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from ..types import content_text

__all__ = ["DEFAULT_MAX_TOKENS", "PriceList", "estimate_prompt_tokens", "max_output_tokens"]

#: The client's default ``max_tokens`` when a request names none.
DEFAULT_MAX_TOKENS = 1024
#: About four characters a token for English text; a few tokens per message of framing.
CHARS_PER_TOKEN = 4.0
TOKENS_PER_MESSAGE = 4


def estimate_prompt_tokens(body: Mapping[str, Any]) -> int:
    """A rough count of the prompt's tokens (characters / 4, plus framing)."""
    messages = body.get("messages")
    if isinstance(messages, list):
        chars = sum(len(content_text(m.get("content"))) for m in messages if isinstance(m, dict))
        return math.ceil(chars / CHARS_PER_TOKEN) + TOKENS_PER_MESSAGE * len(messages)
    inputs = body.get("input")  # the Responses API: a string, or a list of input items
    if isinstance(inputs, str):
        return math.ceil(len(inputs) / CHARS_PER_TOKEN)
    items = [i for i in inputs if isinstance(i, dict)] if isinstance(inputs, list) else []
    chars = sum(len(content_text(i.get("content"))) for i in items)
    return math.ceil(chars / CHARS_PER_TOKEN) + TOKENS_PER_MESSAGE * len(items)


def max_output_tokens(body: Mapping[str, Any]) -> int:
    """The most tokens the answer may have (chat's ``max_tokens``, the Responses
    API's ``max_output_tokens``, else the client's default)."""
    value = DEFAULT_MAX_TOKENS
    for name in ("max_tokens", "max_completion_tokens", "max_output_tokens"):
        if name in body:
            value = body[name]
            break
    return value if isinstance(value, int) and value > 0 else DEFAULT_MAX_TOKENS


def split_provider(model: str, provider: str | None) -> tuple[str, str | None]:
    """``org/name:provider`` into its parts (a policy such as ``:fastest`` names no one)."""
    name, _, suffix = model.partition(":")
    chosen = provider or suffix or None
    if chosen in ("fastest", "cheapest", "preferred", "auto"):
        chosen = None
    return name, chosen


class PriceList:
    """Prices per model and provider, from :meth:`hfinfer.AsyncClient.models`.

    When the provider is unknown, the dearest live one is used, so an estimate
    errs high (and ``--max-cost`` stops early rather than late).
    """

    def __init__(self, prices: Mapping[str, Mapping[str, tuple[float, float]]]) -> None:
        self.prices = {model: dict(offers) for model, offers in prices.items()}

    @classmethod
    def from_models(cls, models: Iterable[Any]) -> PriceList:
        """From :class:`~hfinfer.types.RouterModel` entries (offers without prices are left out)."""
        prices: dict[str, dict[str, tuple[float, float]]] = {}
        for model in models:
            for offer in getattr(model, "providers", ()):
                if offer.input_price is None or offer.output_price is None:
                    continue
                if offer.status not in (None, "live"):
                    continue
                prices.setdefault(model.id, {})[offer.provider] = (
                    offer.input_price, offer.output_price
                )  # fmt: skip
        return cls(prices)

    def price(self, model: str, provider: str | None = None) -> tuple[float, float] | None:
        """(input, output) USD per million tokens, or ``None`` when not listed."""
        name, chosen = split_provider(model, provider)
        offers = self.prices.get(name)
        if not offers:
            return None
        if chosen is not None and chosen in offers:
            return offers[chosen]
        return max(offers.values(), key=lambda pair: pair[0] + pair[1])

    def cost(
        self, model: str, provider: str | None, prompt_tokens: int, completion_tokens: int
    ) -> float | None:
        """USD for that many tokens, or ``None`` when the model has no price."""
        price = self.price(model, provider)
        if price is None:
            return None
        return (prompt_tokens * price[0] + completion_tokens * price[1]) / 1e6
