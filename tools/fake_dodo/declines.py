"""Dodo's payment failure reasons: decline codes, their type (soft or hard) and message."""

from __future__ import annotations

# Dodo's payment failure reasons: code, decline type, description (sent as `error_message`). From
# docs.dodopayments.com/api-reference/transaction-failures, the revision with the Type column and 46 codes.
_DECLINES = (
    ("AUTHENTICATION_FAILURE", "soft", "Authentication failed during the transaction"),
    ("AUTHENTICATION_REQUIRED", "soft", "Additional authentication is needed to complete the transaction"),
    ("AUTHENTICATION_TIMEOUT", "soft", "The authentication process timed out"),
    ("CARD_DECLINED", "soft", "The card was declined by the issuing bank without a specific reason"),
    ("CARD_NOT_ACTIVATED", "soft", "The card has not been activated by the cardholder"),
    ("CARD_VELOCITY_EXCEEDED", "soft", "Too many transactions attempted in a short period"),
    ("CUSTOMER_CANCELLED", "soft", "The customer cancelled the transaction"),
    ("DO_NOT_HONOR", "hard", "The issuing bank explicitly refused the transaction"),
    ("EXPIRED_CARD", "hard", "The card has expired"),
    ("FRAUDULENT", "hard", "The transaction was flagged as potentially fraudulent"),
    ("GENERIC_DECLINE", "soft", "The transaction was declined for an unspecified reason"),
    ("INCORRECT_CVC", "soft", "The provided CVC code was incorrect"),
    ("INCORRECT_NUMBER", "soft", "The card number was entered incorrectly"),
    ("INSUFFICIENT_FUNDS", "soft", "The account has insufficient funds to complete the transaction"),
    ("INVALID_ACCOUNT", "hard", "The account details provided are invalid"),
    ("INVALID_AMOUNT", "soft", "The transaction amount is invalid"),
    ("INVALID_CARD_NUMBER", "soft", "The card number format is invalid"),
    ("INVALID_CARD_OWNER", "soft", "The card owner information is invalid"),
    ("INVALID_CVC", "soft", "The CVC format is invalid"),
    ("INVALID_EXPIRY_YEAR", "soft", "The card expiry year is invalid"),
    ("INVALID_PIN", "soft", "The provided PIN is incorrect"),
    ("INVALID_REQUEST", "soft", "The transaction request contains invalid data"),
    ("INVALID_UPI_ID", "soft", "The UPI ID provided is invalid"),
    ("LIMIT_EXCEEDED", "soft", "The transaction exceeds the card or account limit"),
    ("LIVE_MODE_TEST_CARD", "hard", "A test card was used in live mode"),
    ("LOST_CARD", "hard", "The card has been reported as lost"),
    ("MANDATE_INVALID", "soft", "The payment mandate is invalid"),
    ("MANDATE_REQUIRED", "soft", "A mandate is required for this transaction"),
    ("MANDATE_REQUIRED_SYSTEM", "hard", "The system requires a mandate for this transaction type"),
    ("NETWORK_ERROR", "soft", "A network error occurred during the transaction"),
    ("NETWORK_TIMEOUT", "soft", "The network request timed out"),
    (
        "ORDER_ALREADY_EXISTS",
        "soft",
        "An order already exists for this transaction (duplicate order creation)",
    ),
    ("ORDER_CREATION_FAILED", "soft", "Failed to create the order for the transaction"),
    ("PAYMENT_METHOD_PROVIDER_DECLINED", "hard", "The payment method provider declined the transaction"),
    ("PAYMENT_METHOD_UNSUPPORTED", "hard", "The payment method is not supported for this transaction"),
    ("PICKUP_CARD", "hard", "The card has been reported as lost or stolen and flagged for pickup"),
    ("PROCESSING_ERROR", "soft", "An error occurred while processing the transaction"),
    ("PROVIDER_UNSUPPORTED", "hard", "The payment provider does not support this transaction type"),
    ("REENTER_TRANSACTION", "soft", "The transaction needs to be re-entered"),
    ("REVOCATION_OF_AUTHORIZATION", "hard", "The authorization for the transaction was revoked"),
    ("STOLEN_CARD", "hard", "The card has been reported as stolen"),
    (
        "SUBSCRIPTION_NOT_ACTIVE",
        "hard",
        "The subscription is not active, so the charge could not be processed",
    ),
    ("TRANSACTION_NOT_ALLOWED", "hard", "The transaction is not allowed for this card or account"),
    ("TRANSACTION_NOT_APPROVED", "hard", "The transaction was not approved"),
    ("TRY_AGAIN_LATER", "soft", "The transaction should be retried later"),
    ("UNKNOWN_ERROR", "soft", "An unknown error occurred"),
)

DECLINE_CODES: dict[str, str] = {code: decline_type for code, decline_type, _ in _DECLINES}
DECLINE_MESSAGES: dict[str, str] = {code: message for code, _, message in _DECLINES}
