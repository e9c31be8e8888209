"""Prices: token counts → cost, from the price table in settings.

Costs are in US cents as floats: a request of a few tokens costs a fraction of a cent, and
rounding each one would lose real money over millions of requests.
"""

from __future__ import annotations

from collections.abc import Mapping

from antiphon.config import ModelPrice
from antiphon.store.usage import TOKEN_COLUMNS, Weights

FREE = ModelPrice()
# Usage columns → (price field, the cost report's token_type).
TOKEN_TYPES: dict[str, tuple[str, str]] = {
    "uncached_input_tokens": ("input", "uncached_input_tokens"),
    "output_tokens": ("output", "output_tokens"),
    "cache_read_tokens": ("cache_read", "cache_read_input_tokens"),
    "cache_creation_5m_tokens": ("cache_write_5m", "cache_creation.ephemeral_5m_input_tokens"),
    "cache_creation_1h_tokens": ("cache_write_1h", "cache_creation.ephemeral_1h_input_tokens"),
}
# The Batch API is billed at half price on the hosted API; so it is here.
TIER_FACTOR = {"standard": 1.0, "batch": 0.5}


class PriceTable:
    def __init__(self, prices: Mapping[str, ModelPrice]) -> None:
        self._prices = dict(prices)

    def price(self, model: str) -> ModelPrice:
        return self._prices.get(model) or self._prices.get("*") or FREE

    def cents(self, model: str, service_tier: str, column: str, tokens: int) -> float:
        """Cost of `tokens` of one usage column (see TOKEN_TYPES)."""
        return tokens * _cents_per_token(self.price(model), column) * TIER_FACTOR.get(service_tier, 1.0)

    def total_cents(self, model: str, service_tier: str, tokens: Mapping[str, int]) -> float:
        return sum(self.cents(model, service_tier, column, tokens.get(column, 0)) for column in TOKEN_TYPES)

    def weights(self) -> Weights:
        """This table as cents per token of each usage column, for the store to price sums
        as it adds them up (the same arithmetic as `cents`)."""
        def per_token(price: ModelPrice) -> tuple[float, ...]:
            return tuple(_cents_per_token(price, column) for column in TOKEN_COLUMNS)

        by_model = tuple((model, per_token(price)) for model, price in self._prices.items() if model != "*")
        return Weights(by_model, per_token(self.price("")), tuple(TIER_FACTOR.items()))


def _cents_per_token(price: ModelPrice, column: str) -> float:
    """A usage column's price (US dollars per million tokens) as cents per token."""
    dollars_per_million: float = getattr(price, TOKEN_TYPES[column][0])
    return dollars_per_million / 10_000
