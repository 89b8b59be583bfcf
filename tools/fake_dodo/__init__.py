"""An in-memory Dodo Payments API on loopback for the `dodopayments` SDK: tests and `make dev` run offline.

    from tools.fake_dodo.server import FakeDodo
    from tools.fake_dodo.webhooks import http_webhook

    with FakeDodo(webhook=http_webhook("http://127.0.0.1:3000/webhooks/dodo")) as fake:
        fake.add_product("pdt_usage", 0)
        client = DodoPayments(bearer_token="k", base_url=fake.url, max_retries=0)
        session = client.checkout_sessions.create(
            product_cart=[{"product_id": "pdt_usage", "quantity": 1}],
            subscription_data={"on_demand": {"mandate_only": True}},
        )
        subscription = fake.complete_checkout(session.session_id)  # the customer finished checkout
        client.subscriptions.charge(subscription["subscription_id"], product_price=1250)
        fake.wait_idle()  # payment.processing, then payment.succeeded, delivered

Simulated: on-demand (mandate-only) subscriptions; charges on them, which settle asynchronously (succeeding,
or failing with queued decline codes); pause, resume, cancel and a moved next billing date; full refunds of
succeeded payments (succeeded at once); customers; GET /subscriptions and GET /payments (newest first, pages
numbered from 0, the filters tests use). Not simulated: renewals, partial refunds, disputes, plan
changes. Answers and webhooks validate strictly against the SDK's response models (tests/tools/
test_fake_dodo_conformance.py); webhook `data` also carries Dodo's `payload_type`, which the models leave out.
Webhooks are signed (Standard Webhooks) and delivered in emission order by one thread, each only after the API
answer that caused it was written, so a handler may call the fake back; `deliveries_lost = True` drops them
(as if the endpoint were down), the events still made. Time is read only through `clock`.

Errors are `{"code", "message"}` with codes and messages from docs.dodopayments.com/api-reference/error-codes.
HTTP 409 for PREVIOUS_PAYMENT_PENDING is what integrations observe; the page gives no status per code, so the
other statuses are assumptions following its status table.
"""
