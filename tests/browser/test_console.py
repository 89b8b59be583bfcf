"""The local console in headless Chromium: a trial signup and its conversion sent from the Send
panel, their deliveries and entitlement changes, a redelivery and an older event, and the trial
notice fired by moving the clock; a backfill started from the runs panel and the hourly
reconciliation listed there. UPDATE_SCREENSHOTS=1 (`make screenshots`) writes the README's
screenshots to docs/console/."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
import stripe
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.wait import WebDriverWait

from tools.local_server import LocalServer
from tools.template import ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

WAIT_SECONDS = 20
ACCOUNT = "acct-console"
SIGNUP = "stripe/customer.subscription.created.json"  # trialing, the trial ends 2026-01-31T00:00:00Z
CONVERSION = "stripe/customer.subscription.updated.trialing_to_active.json"
NOTICE_7D = "trial-notice-sub_1Q1acme1001-7d"
SCREENSHOTS = ROOT / "docs" / "console"
# Every row of a table as its data-* attributes plus {cell class: text}, read in one go so a
# re-render between two reads cannot leave a stale element behind.
READ_ROWS = """
return [...document.getElementById(arguments[0]).rows].map((row) => ({
  ...row.dataset,
  ...Object.fromEntries([...row.cells].map((cell) => [cell.className, cell.textContent])),
}));
"""

T = TypeVar("T")


def test_console_drives_a_trial_from_signup_to_notice_and_conversion(
    make_dev: LocalServer, browser: WebDriver, tmp_path: Path
) -> None:
    screenshots = screenshots_directory(tmp_path)
    browser.get(f"{make_dev.url}/_local/")
    wait(browser, lambda: SIGNUP in [o.get_attribute("value") for o in select(browser).options], "samples")

    # The story's time, so the trial's notices are ahead of the clock.
    set_clock(browser, "2026-01-01T00:00:00Z")
    send(browser, SIGNUP, ACCOUNT)
    signup = delivery(browser, 1)
    assert (signup["provider"], signup["event-type"], signup["event-id"]) == (
        "stripe",
        "customer.subscription.created",
        "evt_1Q1story0002",
    )
    assert (signup["account"], signup["answer"]) == (ACCOUNT, "200 applied")
    assert "status: — → trialing" in signup["change"]

    search_account(browser, ACCOUNT)
    wait(browser, lambda: account_field(browser, "status") == "trialing", "the account trialing")
    assert account_field(browser, "access") == "true"

    notice = wait(
        browser, lambda: row(browser, "schedules-pending", "schedule", NOTICE_7D), "notice scheduled"
    )
    assert notice["time"] == "2026-01-24T00:00:00Z"
    assert '"lead":"7d"' in notice["input"]

    # An hour before the 7-day notice, then "next schedule" moves the clock onto it.
    set_clock(browser, "2026-01-23T23:00:00Z")
    browser.find_element(By.ID, "advance-next").click()
    wait(browser, lambda: clock_now(browser).startswith("2026-01-24T00:00"), "the clock on the notice")
    fired = wait(browser, lambda: row(browser, "schedules-fired", "schedule", NOTICE_7D), "notice fired")
    assert fired["outcome"] == "ok"
    screenshot(browser, "schedules", screenshots)
    ending = wait(browser, lambda: row(browser, "bus-rows", "detailType", "Trial Ending"), "Trial Ending")
    assert ACCOUNT in ending["input"]
    assert '"lead":"7d"' in ending["input"]

    send(browser, CONVERSION, ACCOUNT)
    conversion = delivery(browser, 2)
    assert (conversion["event-type"], conversion["answer"]) == (
        "customer.subscription.updated",
        "200 applied",
    )
    assert "status: trialing → active" in conversion["change"]
    wait(browser, lambda: account_field(browser, "status") == "active", "the account active")

    browser.find_element(By.ID, "send-again").click()
    again = delivery(browser, 3)
    assert (again["event-id"], again["answer"], again["change"]) == ("evt_1Q1story0005", "200 duplicate", "")

    browser.find_element(By.ID, "send-older").click()
    older = delivery(browser, 4)
    assert older["event-id"] != "evt_1Q1story0005"
    assert (older["answer"], older["change"]) == ("200 stale", "")
    assert account_field(browser, "status") == "active"

    browser.find_element(By.CSS_SELECTOR, '#deliveries-rows tr[data-delivery="2"]').click()
    wait(
        browser, lambda: '"status": "active"' in text_of(browser, '[data-testid="delivery-after"]'), "details"
    )
    assert '"status": "trialing"' in text_of(browser, '[data-testid="delivery-before"]')
    assert '"type": "customer.subscription.updated"' in text_of(browser, '[data-testid="delivery-payload"]')

    bus_filter = browser.find_element(By.ID, "bus-filter")
    bus_filter.send_keys("Trial Ending")
    wait(browser, lambda: {r["detailType"] for r in rows(browser, "bus-rows")} == {"Trial Ending"}, "filter")
    bus_filter.clear()
    bus_filter.send_keys(ACCOUNT)  # clear() fires no input event; typing again re-filters
    wait(browser, lambda: len(rows(browser, "bus-rows")) == 3, "the account's three events")

    for panel in ("deliveries", "accounts", "bus", "clock", "send"):
        screenshot(browser, panel, screenshots)


def test_console_starts_a_backfill_and_lists_it_with_the_hourly_reconciliation(
    make_dev: LocalServer, browser: WebDriver, tmp_path: Path
) -> None:
    stripe_api = make_dev.providers()["stripe"]
    client = stripe.StripeClient(str(stripe_api["api_key"]), base_addresses={"api": stripe_api["api_base"]})
    assert make_dev.fake_stripe is not None
    make_dev.fake_stripe.deliveries_lost = True  # made at Stripe before the stack knew them
    for n in range(2):
        customer = client.v1.customers.create(params={"metadata": {"account_id": f"acct-runs-{n}"}})
        client.v1.subscriptions.create(
            params={"customer": customer.id, "items": [{"price": "price_local_s"}]}
        )
    browser.get(f"{make_dev.url}/_local/")

    browser.find_element(By.ID, "backfill").click()
    wait(browser, lambda: "finished" in text_of(browser, "#backfill-result"), "the backfill")
    assert text_of(browser, "#backfill-result") == "2 objects, 1 page, finished"
    [backfill] = wait(browser, lambda: rows(browser, "runs-rows"), "the backfill's run")
    assert backfill["kind"] == "backfill" and backfill["run"].startswith("backfill ")
    assert (backfill["pages"], backfill["objects"], backfill["applied"], backfill["outcome"]) == (
        "1",
        "2",
        "2",
        "—",
    )

    browser.find_element(By.CSS_SELECTOR, '[data-testid="advance-1h"]').click()
    reconciliation = wait(
        browser, lambda: row(browser, "runs-rows", "kind", "reconciliation"), "reconciliation"
    )
    assert (reconciliation["pages"], reconciliation["outcome"]) == ("—", "—")
    listed = rows(browser, "runs-rows")
    # The hour moved may pass 02:30 UTC too, where the daily Dodo re-read adds a backfill run of its own.
    assert [r["kind"] for r in listed].count("reconciliation") == 1
    assert backfill["run"] in [r["run"] for r in listed if r["kind"] == "backfill"]
    screenshot(browser, "runs", screenshots_directory(tmp_path))


def screenshots_directory(tmp_path: Path) -> Path:
    """docs/console/ for `make screenshots`, else a directory the test throws away."""
    directory = SCREENSHOTS if os.environ.get("UPDATE_SCREENSHOTS") == "1" else tmp_path
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def wait(browser: WebDriver, found: Callable[[], T | None], what: str) -> T:
    return WebDriverWait(browser, WAIT_SECONDS).until(lambda _: found(), f"waited for {what}")


def select(browser: WebDriver) -> Select:
    return Select(browser.find_element(By.ID, "send-file"))


def set_clock(browser: WebDriver, now: str) -> None:
    field = browser.find_element(By.ID, "clock-set-input")
    field.clear()
    field.send_keys(now)
    browser.find_element(By.CSS_SELECTOR, '[data-testid="clock-set"]').click()
    # The buttons come back once the page has rendered the moved clock's schedules.
    wait(browser, lambda: clock_now(browser).startswith(now[:15]) and clock_buttons_enabled(browser), now)


def clock_buttons_enabled(browser: WebDriver) -> bool:
    return not browser.execute_script("return document.getElementById('advance-next').disabled")


def clock_now(browser: WebDriver) -> str:
    return text_of(browser, "#clock-now")


def send(browser: WebDriver, file: str, account_id: str) -> None:
    select(browser).select_by_value(file)
    field = browser.find_element(By.ID, "send-account")
    field.clear()
    field.send_keys(account_id)
    browser.find_element(By.ID, "send-new").click()


def delivery(browser: WebDriver, number: int) -> dict[str, Any]:
    return wait(
        browser, lambda: row(browser, "deliveries-rows", "delivery", str(number)), f"delivery {number}"
    )


def search_account(browser: WebDriver, query: str) -> None:
    field = browser.find_element(By.ID, "account-query")
    field.clear()
    field.send_keys(query)
    browser.find_element(By.CSS_SELECTOR, '[data-testid="account-search"]').click()


def account_field(browser: WebDriver, name: str) -> str:
    return text_of(browser, f'#account-view [data-field="{name}"]')


def rows(browser: WebDriver, tbody: str) -> list[dict[str, Any]]:
    return list(browser.execute_script(READ_ROWS, tbody))


def row(browser: WebDriver, tbody: str, attribute: str, value: str) -> dict[str, Any] | None:
    return next((r for r in rows(browser, tbody) if r.get(attribute) == value), None)


def text_of(browser: WebDriver, selector: str) -> str:
    """The element's text, read in one go like READ_ROWS; empty while there is no such element."""
    return str(
        browser.execute_script("return document.querySelector(arguments[0])?.textContent ?? ''", selector)
    )


def screenshot(browser: WebDriver, panel: str, directory: Path) -> None:
    section = browser.find_element(By.ID, panel)
    browser.execute_script("arguments[0].scrollIntoView()", section)
    assert section.screenshot(str(directory / f"{panel}.png")), panel
