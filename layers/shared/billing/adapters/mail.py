"""Notice e-mails through SES templates. The only module that talks to SES."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from billing.adapters import aws
from billing.config import get_settings
from billing.core.errors import RetryLater


def send_templated(template: str, to: str, data: dict[str, Any]) -> None:
    sender = get_settings().notice_sender
    if not sender:
        return
    try:
        aws.client("ses").send_templated_email(
            Source=sender, Destination={"ToAddresses": [to]}, Template=template, TemplateData=json.dumps(data)
        )
    except (BotoCoreError, ClientError) as exc:
        raise RetryLater("e-mail service unavailable", reason="email_error") from exc
