"""schemathesis over every route of docs/openapi.json, against the local server as `make dev` runs it:
no answer is a 5xx, and every answer (its status, content type and body) is one the document gives.

Not checked: that every request the schema allows is accepted (a plan the catalog lacks, a second
trial and the like are refused by design), nor that every request it forbids is refused (pydantic
takes "2500" for an amount, as the API always has)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import negative_data_rejection, positive_data_acceptance

from tests.e2e.conftest import running
from tests.e2e.http_client import call
from tests.e2e.test_on_demand import with_mandate
from tools import openapi
from tools.local_server import LocalServer

pytestmark = pytest.mark.e2e

EXAMPLES_PER_OPERATION = 40  # 7 operations: well within a minute
EXAMPLE_ACCOUNT = "acct-1"
schema = schemathesis.openapi.from_path(openapi.DOCUMENT)
answered: Counter[tuple[str, int]] = Counter()  # (operation, status) -> requests


@pytest.fixture(scope="module")
def api() -> Iterator[LocalServer]:
    for server in running(LocalServer(port=0, fake_stripe=True, fake_dodo=True)):
        # The document's example account exists (on the free plan), so reading it answers 200, and
        # has a Dodo mandate, so a charge can be asked for.
        assert call(server, "POST", f"/accounts/{EXAMPLE_ACCOUNT}/plan", {"plan": "free"})[0] == 200
        with_mandate(server, EXAMPLE_ACCOUNT)
        yield server
    operations = {operation for operation, _ in answered}
    print(f"\nschemathesis: {len(operations)} operations, {answered.total()} requests")
    for (operation, status), count in sorted(answered.items()):
        print(f"  {operation:45} {status}  x{count}")


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    derandomize=True,  # the same examples on every run: CI is reproducible
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_every_answer_is_one_the_document_gives(case: schemathesis.Case, api: LocalServer) -> None:
    response = case.call_and_validate(
        base_url=api.url, excluded_checks=[positive_data_acceptance, negative_data_rejection]
    )
    answered[(case.operation.label, response.status_code)] += 1
