"""Fake AWS credentials and the template's function environment, set before anything imports boto3."""

import os

os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "1",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }
)
os.environ.pop("AWS_ENDPOINT_URL", None)

from tools import template

os.environ.update(template.all_functions_environment())

import moto  # noqa: F401  (registers its botocore hooks before any client exists)

from tools.local_aws import serialize_requests

serialize_requests()

pytest_plugins = ["tests.support"]
