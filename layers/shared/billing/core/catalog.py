"""The plan catalog: plan key -> provider price/product ids.

Configured as JSON (env `PLAN_CATALOG`), for example::

    {"free": {"free": true},
     "s": {"stripe_prices": ["price_123"], "stripe_products": ["prod_S"], "dodo_products": ["pdt_S"]}}

The plan of a subscription is the catalog key whose prices (then products) contain it, else
the price's `lookup_key`, else the price id, else the product id.
"""

from __future__ import annotations

from pydantic import BaseModel, Field, RootModel


class Plan(BaseModel):
    stripe_prices: list[str] = Field(default_factory=list)
    stripe_products: list[str] = Field(default_factory=list)
    dodo_products: list[str] = Field(default_factory=list)
    free: bool = False


class PlanCatalog(RootModel[dict[str, Plan]]):
    root: dict[str, Plan] = Field(default_factory=dict)

    def plan_key(
        self,
        *,
        price_id: str | None = None,
        product_id: str | None = None,
        lookup_key: str | None = None,
        dodo_product_id: str | None = None,
    ) -> str | None:
        for key, plan in self.root.items():
            if price_id and price_id in plan.stripe_prices:
                return key
        for key, plan in self.root.items():
            if (product_id and product_id in plan.stripe_products) or (
                dodo_product_id and dodo_product_id in plan.dodo_products
            ):
                return key
        return lookup_key or price_id or product_id or dodo_product_id

    def stripe_price(self, plan_key: str) -> str | None:
        plan = self.root.get(plan_key)
        return plan.stripe_prices[0] if plan and plan.stripe_prices else None

    def is_free(self, plan_key: str) -> bool:
        plan = self.root.get(plan_key)
        return plan is not None and plan.free
