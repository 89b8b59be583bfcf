"""tools/fake_stripe checked against the pinned `stripe` SDK: it speaks the pinned API version, and
every parameter and value it accepts is one that version has (its answers and events are checked
where its flows run: tests/tools/test_fake_stripe.py)."""

from __future__ import annotations

import pytest
import stripe
import stripe.params as sdk_params
from stripe._api_version import _ApiVersion
from stripe.params import (
    EventListParams,
    EventListParamsCreated,
    SubscriptionResumeParams,
    SubscriptionUpdateParams,
)
from stripe.params.checkout import SessionCreateParams, SessionCreateParamsSubscriptionData

from billing.providers.stripe import API_VERSION
from tests.stripe_types import fake_stripe_problems, parameters, params_problems
from tools.fake_stripe import request_params
from tools.fake_stripe.server import FakeStripe
from tools.fake_stripe.store import API_VERSION as FAKE_API_VERSION

# The parameters each route of the fake accepts, and the SDK's TypedDict for that endpoint.
FAKE_ROUTE_PARAMS = [
    (request_params.CUSTOMER_CREATE_PARAMS, sdk_params.CustomerCreateParams),
    (request_params.CUSTOMER_UPDATE_PARAMS, sdk_params.CustomerUpdateParams),
    (request_params.SUBSCRIPTION_CREATE_PARAMS, sdk_params.SubscriptionCreateParams),
    (request_params.SUBSCRIPTION_UPDATE_PARAMS, sdk_params.SubscriptionUpdateParams),
    (request_params.SUBSCRIPTION_CANCEL_PARAMS, sdk_params.SubscriptionCancelParams),
    (request_params.SUBSCRIPTION_RESUME_PARAMS, sdk_params.SubscriptionResumeParams),
    (request_params.SUBSCRIPTION_LIST_PARAMS, sdk_params.SubscriptionListParams),
    (request_params.PRICE_CREATE_PARAMS, sdk_params.PriceCreateParams),
    (request_params.PRICE_LIST_PARAMS, sdk_params.PriceListParams),
    (request_params.CHECKOUT_CREATE_PARAMS, SessionCreateParams),
    (request_params.CHECKOUT_SUBSCRIPTION_DATA_PARAMS, SessionCreateParamsSubscriptionData),
    (request_params.INVOICE_PAY_PARAMS, sdk_params.InvoicePayParams),
    (request_params.INVOICE_PAYMENT_LIST_PARAMS, sdk_params.InvoicePaymentListParams),
    (request_params.REFUND_CREATE_PARAMS, sdk_params.RefundCreateParams),
    (request_params.REFUND_LIST_PARAMS, sdk_params.RefundListParams),
    (request_params.EVENT_LIST_PARAMS, EventListParams),
    (request_params.CREATED_RANGE_PARAMS, EventListParamsCreated),
]


def test_the_fake_speaks_the_pinned_version() -> None:
    assert FAKE_API_VERSION == API_VERSION == _ApiVersion.CURRENT


def test_the_fake_accepts_only_parameters_and_values_the_pinned_version_has() -> None:
    for accepted, typed_dict in FAKE_ROUTE_PARAMS:
        assert accepted <= parameters(typed_dict).keys(), typed_dict.__name__
    choices = [
        *({"payment_behavior": value} for value in request_params.PAYMENT_BEHAVIORS),
        *({"proration_behavior": value} for value in request_params.PRORATION_BEHAVIORS),
        *({"pause_collection": {"behavior": value}} for value in request_params.PAUSE_COLLECTION_BEHAVIORS),
        *(
            {"trial_settings": {"end_behavior": {"missing_payment_method": value}}}
            for value in request_params.MISSING_PAYMENT_METHOD_BEHAVIORS
        ),
    ]
    assert [params_problems(params, SubscriptionUpdateParams) for params in choices] == [[]] * len(choices)
    anchors = [
        {"billing_cycle_anchor": {"type": value}} for value in request_params.BILLING_CYCLE_ANCHOR_TYPES
    ]
    assert [params_problems(params, SubscriptionResumeParams) for params in anchors] == [[]] * len(anchors)
    reasons = [{"charge": "ch_1", "reason": value} for value in request_params.REFUND_REASONS]
    assert [params_problems(params, sdk_params.RefundCreateParams) for params in reasons] == [[]] * len(
        reasons
    )


def test_the_event_list_shapes_the_fake_takes_are_the_sdks() -> None:
    taken = [
        {"created": "1767225600", "type": "customer.subscription.*", "limit": "100"},
        {"created": {"gt": "1", "gte": "1", "lt": "2", "lte": "2"}, "starting_after": "evt_1"},
        {"types": ["customer.created", "invoice.paid"], "ending_before": "evt_2", "expand": ["data"]},
    ]
    refused = [{"created": {"after": "1"}}, {"created": {"gt": "soon"}}, {"types": "invoice.paid"}]
    assert [params_problems(params, EventListParams) for params in taken] == [[]] * len(taken)
    assert all(params_problems(params, EventListParams) for params in refused)
    with FakeStripe() as fake:
        client = stripe.StripeClient("sk_test_fake", base_addresses={"api": fake.url}, max_network_retries=0)
        for params in taken:
            client.v1.events.list(params=params)  # type: ignore[arg-type]
        for params in refused:
            with pytest.raises(stripe.InvalidRequestError):
                client.v1.events.list(params=params)  # type: ignore[arg-type]
        assert fake_stripe_problems(fake, API_VERSION) == []
