"""`make dev` and the README's commands against it, typed as the README shows them (on a free port
instead of 3000): the curl walkthrough of "Local run", the replay walkthrough, `make replay` and
`python -m tools.replay FILE --account ... --now`."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.tools.commands import PYTHON, README, make_dev, readme_commands, run
from tools.replay import EVENTS, dodo_webhook_id, replay, server_clock

pytestmark = pytest.mark.e2e

DAY = 86_400


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`make dev` on a free port, for this module's tests: its URL."""
    with make_dev(tmp_path_factory.mktemp("make-dev") / "make-dev.log") as url:
        yield url


def typed(line: str, url: str) -> str:
    """What a README line prints when typed with the server on `url` (the README's is on 3000)."""
    port = urlsplit(url).port
    command = line.replace("localhost:3000", f"localhost:{port}").replace(
        "make replay", f"make replay PORT={port}"
    )
    done = run(command)
    assert done.returncode == 0, f"{command}\n{done.stdout}"
    return done.stdout


def json_values(text: str) -> list[Any]:
    """Every JSON value in `text`, as jq prints a stream of them."""
    decoder, values, at = json.JSONDecoder(), [], 0
    while at < len(text):
        if text[at].isspace():
            at += 1
            continue
        value, at = decoder.raw_decode(text, at)
        values.append(value)
    return values


def replay_answer(output: str) -> tuple[int, dict[str, Any]]:
    """The status and the answer tools.replay prints (make echoes the command before them)."""
    *_, status, answer = output.splitlines()
    return int(status), json.loads(answer)


def get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 (http)
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def clock(url: str) -> int:
    now = server_clock(url)
    assert now is not None
    return now


def test_the_local_run_walkthrough_does_what_its_comments_say(server: str) -> None:
    lines = readme_commands("/accounts/acct-9/trial")
    assert len(lines) == 6, lines
    assert "# 23 days" in lines[1]
    assert "# past the trial end" in lines[3]
    assert "# paused, false" in lines[4]
    started = clock(server)

    trial = json.loads(typed(lines[0], server))
    assert (trial["account_id"], trial["plan"], trial["status"], trial["access"]) == (
        "acct-9",
        "s",
        "trialing",
        True,
    )
    trial_end = datetime.fromisoformat(trial["trial_end"]).timestamp()

    day_23 = datetime.fromisoformat(json.loads(typed(lines[1], server))["now"]).timestamp()
    assert started + 23 * DAY <= day_23 < started + 23 * DAY + 60
    notices = [
        event for event in json_values(typed(lines[2], server)) if event["detail"]["account_id"] == "acct-9"
    ]
    assert [(n["detail_type"], n["detail"]["lead"]) for n in notices] == [("Trial Ending", "7d")]

    past_trial_end = datetime.fromisoformat(json.loads(typed(lines[3], server))["now"]).timestamp()
    assert past_trial_end >= trial_end  # 23 + 7 days: the 30-day trial
    assert json.loads(typed(lines[4], server)) == {
        "status": "paused",
        "access": False,
        "message": "Trial ended: add a card or choose a plan",
    }
    assert json.loads(typed(lines[5], server)) == {"plan": "free", "access": True}


def test_the_replay_walkthrough_applies_the_samples(server: str) -> None:
    lines = readme_commands("make replay FILE=stripe/customer.subscription.created.json")
    assert len(lines) == 4, lines

    assert replay_answer(typed(lines[0], server)) == (200, {"received": True, "outcome": "applied"})
    account = json.loads(typed(lines[1], server))
    assert (account["account_id"], account["status"], account["access"]) == ("acct-1001", "trialing", True)
    assert replay_answer(typed(lines[2], server)) == (200, {"received": True, "outcome": "applied"})
    (events,) = json_values(typed(lines[3], server))
    changes = [e["detail"] for e in events if e["detail_type"] == "Account Access Changed"]
    assert [c["new"]["status"] for c in changes if c["account_id"] == "acct-1001"] == ["trialing", "past_due"]


def test_make_replay_signs_a_dodo_sample_with_standard_webhooks(server: str) -> None:
    command = "make replay FILE=dodo/payment.failed.json"
    assert f"`{command}` signs a Dodo" in README.read_text().replace("\n", " ")

    status, answer = replay_answer(typed(command, server))

    assert (status, answer["received"]) == (200, True)
    newest = get(f"{server}/_local/api/deliveries")[1][0]
    webhook_id = dodo_webhook_id((EVENTS / "dodo" / "payment.failed.json").read_bytes())
    assert (newest["provider"], newest["event_id"], newest["status"]) == ("dodo", webhook_id, 200)


def test_replay_for_another_account_at_the_server_time_is_a_new_event(server: str) -> None:
    assert "`python -m tools.replay FILE --account acct-42 --now`" in README.read_text()
    name = "stripe/customer.subscription.created.json"
    replay(EVENTS / name, url=server)  # the sample itself first: the rewritten one is another event
    before = clock(server)

    done = run([str(PYTHON), "-m", "tools.replay", name, "--account", "acct-42", "--now", "--url", server])

    assert done.returncode == 0, done.stdout
    assert replay_answer(done.stdout) == (200, {"received": True, "outcome": "applied"})
    status, account = get(f"{server}/accounts/acct-42")
    assert (status, account["status"]) == (200, "trialing")
    newest = get(f"{server}/_local/api/deliveries")[1][0]["number"]
    delivery = get(f"{server}/_local/api/deliveries/{newest}")[1]
    assert delivery["account_id"] == "acct-42"
    assert delivery["payload"]["data"]["object"]["metadata"]["account_id"] == "acct-42"
    assert before <= delivery["payload"]["created"] <= clock(server)
    assert delivery["event_id"] != json.loads((EVENTS / name).read_text())["id"]


def test_make_backfill_runs_one_against_the_local_server(server: str) -> None:
    assert "make backfill" in README.read_text()

    done = run(["make", "backfill", f"PORT={urlsplit(server).port}"])

    assert done.returncode == 0, done.stdout
    run_answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert (run_answer["provider"], run_answer["finished"], run_answer["stopped"]) == ("stripe", True, None)
    assert get(f"{server}/_local/api/runs")[1][0]["run_id"] == run_answer["run_id"]
