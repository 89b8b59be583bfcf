"""The plan catalog: plan key -> provider price/product ids.

Configured as JSON (env `PLAN_CATALOG`), for example::

    {"free": {"free": true},
     "s": {"stripe_prices": ["price_123"], "stripe_products": ["prod_S"], "dodo_products": ["pdt_S"]}}

The plan of a subscription is the catalog key whose prices (then products) contain it, else
the price's `lookup_key`, else the price id, else the product id.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Plan:
    stripe_prices: tuple[str, ...] = ()
    stripe_products: tuple[str, ...] = ()
    dodo_products: tuple[str, ...] = ()
    free: bool = False


@dataclass(frozen=True, slots=True)
class PlanCatalog:
    plans: Mapping[str, Plan] = field(default_factory=dict)

    @classmethod
    def from_json_value(cls, catalog: object) -> PlanCatalog:
        """The catalog of parsed JSON; ValueError naming the first part of the wrong shape. A plan's
        keys other than its id lists and `free` are ignored."""
        if not isinstance(catalog, dict):
            raise ValueError(f"the catalog must be an object of plans, not {type(catalog).__name__}")
        return cls({key: _plan(key, plan) for key, plan in catalog.items()})

    def plan_key(
        self,
        *,
        price_id: str | None = None,
        product_id: str | None = None,
        lookup_key: str | None = None,
        dodo_product_id: str | None = None,
    ) -> str | None:
        for key, plan in self.plans.items():
            if price_id and price_id in plan.stripe_prices:
                return key
        for key, plan in self.plans.items():
            if (product_id and product_id in plan.stripe_products) or (
                dodo_product_id and dodo_product_id in plan.dodo_products
            ):
                return key
        return lookup_key or price_id or product_id or dodo_product_id

    def stripe_price(self, plan_key: str) -> str | None:
        plan = self.plans.get(plan_key)
        return plan.stripe_prices[0] if plan and plan.stripe_prices else None

    def is_free(self, plan_key: str) -> bool:
        plan = self.plans.get(plan_key)
        return plan is not None and plan.free


def _plan(key: str, plan: object) -> Plan:
    if not isinstance(plan, dict):
        raise ValueError(f"plan {key!r} must be an object, not {type(plan).__name__}")
    free = plan.get("free", False)
    if not isinstance(free, bool):
        raise ValueError(f"plan {key!r}: free must be true or false, not {free!r}")
    return Plan(
        stripe_prices=_ids(key, plan, "stripe_prices"),
        stripe_products=_ids(key, plan, "stripe_products"),
        dodo_products=_ids(key, plan, "dodo_products"),
        free=free,
    )


def _ids(key: str, plan: dict[str, object], name: str) -> tuple[str, ...]:
    listed = plan.get(name, [])
    if not isinstance(listed, list) or not all(isinstance(item, str) for item in listed):
        raise ValueError(f"plan {key!r}: {name} must be a list of strings, not {listed!r}")
    return tuple(listed)
