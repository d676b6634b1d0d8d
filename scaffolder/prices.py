"""What a model call costs: list prices per million tokens, and `cost(model, tokens_in, tokens_out)`.

An estimate from public list prices (USD, standard tier, no batch or cached-input discount), so
`scaffold bench` and the fill summary can say what a run cost. A model missing from the table
costs `None` ("unknown"), never a guess. `PriceTable.with_overrides` takes the same shape a
`[tool.scaffold] prices` table would, so a team's negotiated prices can replace these.

Sources (checked in 2026): OpenAI's pricing page (developers.openai.com/api/docs/pricing);
Databricks' Foundation Model APIs pay-per-token list prices (databricks.com/product/pricing);
local servers (Ollama, vLLM) cost nothing per token.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from scaffolder.errors import ScaffoldError

MILLION = Decimal(1_000_000)


class Price(BaseModel):
    """USD per million tokens."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input: Decimal = Field(ge=0, description="USD per million prompt tokens")
    output: Decimal = Field(ge=0, description="USD per million completion tokens")

    def cost(self, tokens_in: int, tokens_out: int) -> Decimal:
        return (self.input * tokens_in + self.output * tokens_out) / MILLION


class PriceTable(BaseModel):
    """Prices by model name; a dated or vendor-prefixed name finds its base model's price."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    prices: dict[str, Price] = Field(default_factory=dict)

    def find(self, model: str) -> Price | None:
        """`gpt-4.1`, `gpt-4.1-2025-04-14` and `openai/gpt-4.1` all find gpt-4.1's price.

        The longest known name the model starts with wins, so `gpt-4.1-mini` is never priced as
        `gpt-4.1`; a prefix must end at a `-`, `:` or `@` (`gpt-4o` is not `gpt-4o-mini`'s prefix
        match when `gpt-4o-mini` is known, and `o3` never prices `o3x`).
        """
        name = model.strip().lower().rsplit("/", 1)[-1].removeprefix("ft:")
        if name in self.prices:
            return self.prices[name]
        candidates = [known for known in self.prices if name.startswith(known) and name[len(known)] in "-:@"]
        return self.prices[max(candidates, key=len)] if candidates else None

    def cost(self, model: str, tokens_in: int, tokens_out: int) -> Decimal | None:
        price = self.find(model)
        return None if price is None else price.cost(tokens_in, tokens_out)

    def with_overrides(self, overrides: Mapping[str, Any]) -> PriceTable:
        """This table with some models' prices replaced or added: `{"my-endpoint": {"input": 1, "output": 2}}`."""
        try:
            extra = {name.lower(): Price.model_validate(value) for name, value in overrides.items()}
        except ValidationError as exc:
            error = exc.errors()[0]
            raise ScaffoldError(
                f"prices: {error['msg']} (got {error.get('input')!r}); give each model "
                "{input = <USD per 1M prompt tokens>, output = <USD per 1M completion tokens>}"
            ) from None
        return PriceTable(prices={**self.prices, **extra})


def _p(input: str, output: str) -> Price:
    return Price(input=Decimal(input), output=Decimal(output))


DEFAULT_PRICES = PriceTable(
    prices={
        # OpenAI (standard tier)
        "gpt-5": _p("1.25", "10.00"),
        "gpt-5-mini": _p("0.25", "2.00"),
        "gpt-5-nano": _p("0.05", "0.40"),
        "gpt-4.1": _p("2.00", "8.00"),
        "gpt-4.1-mini": _p("0.40", "1.60"),
        "gpt-4.1-nano": _p("0.10", "0.40"),
        "gpt-4o": _p("2.50", "10.00"),
        "gpt-4o-mini": _p("0.15", "0.60"),
        "o3": _p("2.00", "8.00"),
        "o4-mini": _p("1.10", "4.40"),
        "o3-mini": _p("1.10", "4.40"),
        # Databricks Foundation Model APIs, pay-per-token
        "databricks-meta-llama-3-3-70b-instruct": _p("0.50", "1.50"),
        "databricks-meta-llama-3-1-8b-instruct": _p("0.15", "0.45"),
        # Local servers
        "qwen2.5-coder": _p("0", "0"),
        "qwen3": _p("0", "0"),
        "llama3.1": _p("0", "0"),
        "tables.yml-rules": _p("0", "0"),  # the offline generator
    }
)


def cost(model: str, tokens_in: int, tokens_out: int, table: PriceTable | None = None) -> Decimal | None:
    """The estimated USD cost of `tokens_in` prompt and `tokens_out` completion tokens; None when unknown."""
    return (table or DEFAULT_PRICES).cost(model, tokens_in, tokens_out)
