"""An in-memory Stripe API on loopback, for the real `stripe` SDK: tests and `make dev` need no network.

    from tools.fake_stripe.server import FakeStripe
    from tools.fake_stripe.webhooks import signing_webhook

    fake = FakeStripe(clock=lambda: int(manual.now().timestamp()), webhook=signing_webhook(url, secret))
    with fake:
        client = stripe.StripeClient("sk_test_fake", base_addresses={"api": fake.url})
        ...
        manual.advance(30 * 86400)
        fake.advance()          # trials end, periods renew, retries run, sessions expire
        fake.wait_idle()        # every webhook delivered

The fake speaks one API version, `API_VERSION` (2026-10-28.endive, the version the pinned `stripe`
SDK is generated for): answers and events are rendered in it and a request naming another
version in `Stripe-Version` is refused (no header: the account's default, which is that version).
Objects have every field of Stripe's own fixtures that the version keeps (periods on the
subscription items, an invoice's subscription under `parent`); the tests check every answer and
event against the SDK's typed classes (tests/stripe_types.py). `requests` records every request,
with the version it named and the answer. The fake reads the time only through `clock`; nothing
happens on its own: what falls due when the clock moves happens in `advance()`. Webhook events
are delivered in emission order by one background thread, each only after the API response that
caused it was written, so a webhook handler may call the fake back; `deliveries_lost = True` drops
them (as if the endpoint were down) while the events are still made and listed. `GET /v1/events`
lists the events of the last 30 days on the clock, as Stripe keeps them.

Simulated on purpose, where Stripe lets an account choose: payment retries 3, 5 and 7 days
after a failed attempt, then the subscription is canceled; a trial without a payment method
ends as `trial_settings.end_behavior.missing_payment_method` says (default `create_invoice`).
Test payment methods: `pm_card_visa` (and any `pm_card_*`) attach as a working card,
`pm_card_chargeCustomerFail` attaches but every charge fails.
"""
