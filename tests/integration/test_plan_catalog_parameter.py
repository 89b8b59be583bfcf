"""The plan catalog kept in an SSM parameter (PLAN_CATALOG_PARAMETER, `name:version`) on moto: the
pinned version is read, once per process, and it replaces PLAN_CATALOG."""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters

from billing.config import SettingsError, get_settings
from tests.support import Aws

NAME = "/billing-webhooks/local/plan-catalog"
FIRST = {"s": {"stripe_prices": ["price_s"]}, "free": {"free": True}}
SECOND = {"m": {"stripe_prices": ["price_m"]}}


@pytest.fixture
def catalog_parameter(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    ssm = boto3.client("ssm")
    ssm.put_parameter(Name=NAME, Type="String", Value=json.dumps(FIRST))
    ssm.put_parameter(Name=NAME, Type="String", Value=json.dumps(SECOND), Overwrite=True)
    monkeypatch.setenv("PLAN_CATALOG", json.dumps({"env": {"stripe_prices": ["price_env"]}}))
    parameters.clear_caches()
    get_settings.cache_clear()
    yield
    parameters.clear_caches()
    get_settings.cache_clear()


def test_the_pinned_version_of_the_parameter_is_the_catalog(
    catalog_parameter: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLAN_CATALOG_PARAMETER", f"{NAME}:1")
    catalog = get_settings().plan_catalog
    assert list(catalog.plans) == ["s", "free"]
    assert catalog.is_free("free")
    assert catalog.stripe_price("s") == "price_s"

    get_settings.cache_clear()
    monkeypatch.setenv("PLAN_CATALOG_PARAMETER", f"{NAME}:2")
    assert list(get_settings().plan_catalog.plans) == ["m"]


def test_the_parameter_is_read_once_per_process(
    catalog_parameter: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLAN_CATALOG_PARAMETER", f"{NAME}:1")
    assert list(get_settings().plan_catalog.plans) == ["s", "free"]
    boto3.client("ssm").delete_parameter(Name=NAME)
    parameters.clear_caches()
    assert list(get_settings().plan_catalog.plans) == ["s", "free"]


def test_without_the_parameter_the_catalog_is_plan_catalog(catalog_parameter: None) -> None:
    assert list(get_settings().plan_catalog.plans) == ["env"]


def test_a_catalog_of_the_wrong_shape_is_refused_naming_the_parameter(
    catalog_parameter: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    boto3.client("ssm").put_parameter(Name=NAME, Type="String", Value='["s"]', Overwrite=True)
    monkeypatch.setenv("PLAN_CATALOG_PARAMETER", f"{NAME}:3")
    with pytest.raises(SettingsError, match=f"SSM parameter {NAME}:3: the catalog must be an object"):
        get_settings()
