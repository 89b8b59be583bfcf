"""Stripe: its name, the API version every call names, and the duplicate resolutions its API carries out.

`signature` checks webhooks, `events` reads them, `api` calls Stripe, `calls` makes the calls recorded
as effects. Only `api` loads the `stripe` SDK, and only on first use: the webhook stays fast to start.
"""

PROVIDER = "stripe"
# The API version the pinned `stripe` SDK is generated for (its typed params and objects follow it);
# every request names it, so the account's default version never changes what the calls mean.
API_VERSION = "2026-10-28.endive"
# The duplicate policies Stripe's API carries out (billing.core.duplicates), every one.
DUPLICATE_POLICIES = frozenset({"refund", "credit", "extend"})
