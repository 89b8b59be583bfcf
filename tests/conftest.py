"""Fake AWS credentials and the template's function environment, set before anything imports boto3."""

import os

from tools import template

os.environ.update(template.local_environment())
os.environ["POWERTOOLS_LOG_LEVEL"] = "WARNING"
os.environ["EFFECT_RETRY_BACKOFF_SECONDS"] = "0"
os.environ.pop("AWS_ENDPOINT_URL", None)

import moto  # noqa: F401  (registers its botocore hooks before any client exists)

from tools.in_process import one_environment_per_thread
from tools.moto_stack import serialize_requests

serialize_requests()
one_environment_per_thread()

pytest_plugins = ["tests.support"]
