"""A Stripe webhook handler written the way tutorials show it: the comparison baseline.

The full `stripe` SDK imported at the top, `stripe.Webhook.construct_event` to verify the
signature, Powertools idempotency on the handler (DynamoDB persistence keyed by the Stripe
event id) and a PynamoDB `Model.save()` of the subscription status keyed by customer id.
The endpoint secret comes from an environment variable, as in Stripe's own sample.
"""

import json
import os

import stripe
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent,
)
from pynamodb.attributes import UnicodeAttribute
from pynamodb.models import Model

endpoint_secret = os.environ["STRIPE_WEBHOOK_SECRET"]
persistence_layer = DynamoDBPersistenceLayer(table_name=os.environ["IDEMPOTENCY_TABLE_NAME"])
idempotency_config = IdempotencyConfig(event_key_jmespath="powertools_json(body).id")


class SubscriptionStatus(Model):
    class Meta:
        table_name = os.environ["SUBSCRIPTIONS_TABLE_NAME"]

    customer_id = UnicodeAttribute(hash_key=True)
    subscription_id = UnicodeAttribute()
    status = UnicodeAttribute()


@idempotent(config=idempotency_config, persistence_store=persistence_layer)
def lambda_handler(event, context):
    try:
        stripe_event = stripe.Webhook.construct_event(
            event["body"], event["headers"].get("Stripe-Signature"), endpoint_secret
        )
    except ValueError:
        return {"statusCode": 400, "body": json.dumps({"error": "invalid payload"})}
    except stripe.SignatureVerificationError:
        return {"statusCode": 400, "body": json.dumps({"error": "invalid signature"})}

    if stripe_event["type"].startswith("customer.subscription."):
        subscription = stripe_event["data"]["object"]
        SubscriptionStatus(
            subscription["customer"], subscription_id=subscription["id"], status=subscription["status"]
        ).save()
    return {"statusCode": 200, "body": json.dumps({"received": True})}
