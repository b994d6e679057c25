"""`soar playbooks list DIR`: each playbook's triggers as `soar serve` would serve them — a
schedule's next fire times in UTC and local time, webhook paths, poll sources and intervals."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from runner.cli import main

UTC = timezone.utc
BOOKS = {
    "morning.yaml": """\
name: morning-report
on:
  - schedule: "30 9 * * 1-5"
    timezone: America/New_York
steps:
  - {id: a, action: core.log, with: {message: hi}}
""",
    "every.yaml": """\
name: every-ten
on:
  - every: 10m
steps:
  - {id: a, action: core.log, with: {message: hi}}
""",
    "hook.yaml": """\
name: phish-hook
on:
  - webhook: {path: /phish, secret: env:WF_SCHED_HOOK_SECRET, dedup_key: header:X-Delivery}
  - poll: {source: defender.incidents, every: 5m, filter: "status eq 'Active'"}
steps:
  - {id: a, action: core.log, with: {message: hi}}
""",
    "manual.yaml": "name: by-hand\nsteps:\n  - {id: a, action: core.log, with: {message: hi}}\n",
    "broken.yaml": "name: broken\nsteps: [unclosed\n",
}


@pytest.fixture
def books(tmp_path, monkeypatch):
    directory = tmp_path / "books"
    directory.mkdir()
    for name, text in BOOKS.items():
        (directory / name).write_text(text)
    monkeypatch.setenv("WF_SCHED_HOOK_SECRET", "do-not-print-me-7f3a")
    monkeypatch.setenv("TZ", "Asia/Tokyo")  # the "local" time zone of this test
    time.tzset()
    yield directory
    monkeypatch.undo()
    time.tzset()


def expected_weekday_0930_new_york(after: datetime, count: int) -> list[datetime]:
    ny = ZoneInfo("America/New_York")
    day = after.astimezone(ny).date()
    out: list[datetime] = []
    while len(out) < count:
        moment = datetime(day.year, day.month, day.day, 9, 30, tzinfo=ny)
        if moment.weekday() < 5 and moment > after:
            out.append(moment.astimezone(UTC))
        day += timedelta(days=1)
    return out


def test_json_lists_triggers_and_next_fire_times(books):
    before = datetime.now(UTC)
    result = CliRunner().invoke(main, ["playbooks", "list", str(books), "--json"])
    assert result.exit_code == 2  # broken.yaml is not a playbook; the others are still listed
    doc = json.loads(result.stdout)
    by = {p.get("name", p["path"].rsplit("/", 1)[-1]): p for p in doc["playbooks"]}
    assert not by["broken.yaml"]["valid"]
    assert "do-not-print-me-7f3a" not in result.output

    [cron] = by["morning-report"]["triggers"]
    assert cron["kind"] == "schedule" and cron["cron"] == "30 9 * * 1-5" and cron["timezone"] == "America/New_York"
    got = [datetime.fromisoformat(n["utc"]) for n in cron["next"]]
    assert got == expected_weekday_0930_new_york(before, 3)
    for n in cron["next"]:
        local = datetime.fromisoformat(n["local"])
        assert local.utcoffset() == timedelta(hours=9) and local == datetime.fromisoformat(n["utc"])

    [every] = by["every-ten"]["triggers"]
    times = [datetime.fromisoformat(n["utc"]) for n in every["next"]]
    assert every["every"] == 600.0 and before < times[0] <= before + timedelta(minutes=10, seconds=5)
    assert [(b - a).total_seconds() for a, b in zip(times, times[1:])] == [600.0, 600.0]

    hook, poll = by["phish-hook"]["triggers"]
    assert hook == {"kind": "webhook", "path": "/hooks/phish", "secret": "env:WF_SCHED_HOOK_SECRET", "token": None,
                    "dedup_key": "header:X-Delivery", "dedup_window": 3600.0}
    assert poll["kind"] == "poll" and poll["source"] == "defender.incidents" and poll["every"] == 300.0
    assert poll["filter"] == "status eq 'Active'"
    assert by["by-hand"]["triggers"] == []


def test_text_listing(books):
    result = CliRunner().invoke(main, ["playbooks", "list", str(books), "--next", "2"], env={"COLUMNS": "80"})
    assert result.exit_code == 2
    out = result.stdout
    assert 'schedule  cron "30 9 * * 1-5" (America/New_York), next:' in out
    fires = [line for line in out.splitlines() if line.strip().endswith("local")]
    assert len(fires) == 4  # two for the cron, two for the interval
    assert all(" UTC " in line and " JST local" in line for line in fires)
    assert "webhook   POST /hooks/phish  (secret env:WF_SCHED_HOOK_SECRET; dedup on header:X-Delivery for 1h" in out
    assert "poll      defender.incidents every 5m" in out
    assert "by-hand" in out and "manual only" in out
    assert "broken.yaml" in result.stderr
    assert "do-not-print-me-7f3a" not in result.output


def test_days_of_the_week_are_numbered_as_crontab_numbers_them(tmp_path):
    """`1-5` is Monday to Friday, `0` and `7` Sunday (APScheduler 3 alone reads 1-5 as Tue-Sat)."""
    directory = tmp_path / "books"
    directory.mkdir()
    for name, cron in (("weekdays", "0 12 * * 1-5"), ("sundays", "0 12 * * 0"), ("sundays7", "0 12 * * 7"),
                       ("weekend", "0 12 * * sat,sun")):
        (directory / f"{name}.yaml").write_text(
            f'name: {name}\non:\n  - schedule: "{cron}"\nsteps:\n  - {{id: a, action: core.log, with: {{message: hi}}}}\n')
    result = CliRunner().invoke(main, ["playbooks", "list", str(directory), "--json", "--next", "10"])
    assert result.exit_code == 0, result.output
    days = {p["name"]: {datetime.fromisoformat(n["utc"]).strftime("%a") for n in p["triggers"][0]["next"]}
            for p in json.loads(result.stdout)["playbooks"]}
    assert days == {"weekdays": {"Mon", "Tue", "Wed", "Thu", "Fri"}, "sundays": {"Sun"}, "sundays7": {"Sun"},
                    "weekend": {"Sat", "Sun"}}
    bad = directory / "bad.yaml"
    bad.write_text('name: bad\non:\n  - schedule: "0 12 * * 8"\nsteps:\n  - {id: a, action: core.log, with: {message: hi}}\n')
    refused = CliRunner().invoke(main, ["validate", str(bad)])
    assert refused.exit_code == 2 and "is not a day" in refused.output
