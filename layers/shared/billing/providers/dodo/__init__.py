"""Dodo Payments: its name and the duplicate resolutions its API can carry out.

`signature` checks webhooks (Standard Webhooks), `events` reads them, `api` calls Dodo, `calls` makes
the calls recorded as effects. Only `api` loads the `dodopayments` SDK, and only on first use.
"""

PROVIDER = "dodo"
# The duplicate policies Dodo's API can carry out (billing.core.duplicates): `refund` (cancel, then
# refund the payment) and `extend` (cancel, then move the kept subscription's next_billing_date).
# Not `credit`: Dodo's cancellation prorates nothing, so it leaves no balance for the unused time.
DUPLICATE_POLICIES = frozenset({"refund", "extend"})
