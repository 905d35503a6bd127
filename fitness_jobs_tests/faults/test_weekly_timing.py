"""Weekly runs at the wrong times: an hour late, twice in the same hour, or not at all
(the daemon down for whole windows).  Everyone still due is caught, nothing is
duplicated, and the coverage judgement names whoever was missed until a catch-up."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

import dagster as dg
import pytest
import sqlalchemy as sa

from fitness_jobs.definitions import build_definitions
from fitness_jobs.pipelines.weekly import run_weekly
from fitness_jobs_tests.factories import ts
from fitness_jobs_tests.faults.conftest import W, population, url_of

SUNDAY_13 = ts("2026-11-29 13:00")  # the first window of week W opens (UTC+14)
MONDAY_18 = ts("2026-11-30 18:00")  # every window of week W has closed


def _hours(start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
    out = []
    while start < end:
        out.append(start)
        start += dt.timedelta(hours=1)
    return out


def _reports_per_user(engine: sa.Engine) -> Counter[int]:
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT user_id, count(*) FROM weekly_reports WHERE week_start = %(w)s "
            "GROUP BY user_id",
            {"w": W},
        ).all()
    return Counter({int(u): int(n) for u, n in rows})


def _window(engine: sa.Engine, at: dt.datetime) -> Any:
    return run_weekly(engine, mode="window", at=at, now=at)


def test_a_late_run_and_a_repeated_hour_catch_everyone_once(postgres_engine: sa.Engine) -> None:
    zones = ("Europe/Berlin", "UTC", "Europe/Moscow", "Asia/Kolkata", "America/New_York")
    pop = population(20, zones=zones)
    pop.write(postgres_engine)
    by_zone = {z: [u["id"] for u in pop.users if u["timezone"] == z] for z in zones}

    # Hourly runs on the hour, but those at 02:00, 03:00 and 04:00 UTC never happened
    # (Berlin's 03:00, 04:00 and 05:00 local; UTC's 03:00 and 04:00): the job runs late, at
    # 04:30 UTC = 05:30 in Berlin, still inside both zones' 03:00–06:00 windows.
    missed = {ts("2026-11-30 02:00"), ts("2026-11-30 03:00"), ts("2026-11-30 04:00")}
    before = [at for at in _hours(SUNDAY_13, ts("2026-11-30 04:00")) if at not in missed]
    for at in before:
        assert not _window(postgres_engine, at).errors
    reported = set(_reports_per_user(postgres_engine))
    assert reported == set(by_zone["Europe/Moscow"] + by_zone["Asia/Kolkata"])

    late = _window(postgres_engine, ts("2026-11-30 04:30"))
    assert sorted(late.written_user_ids) == sorted(by_zone["Europe/Berlin"] + by_zone["UTC"])
    assert (late.already_reported, len(late.errors)) == (0, 0)

    # The same hour again, twice: nobody is written twice.
    for at in (ts("2026-11-30 04:30"), ts("2026-11-30 04:55")):
        again = _window(postgres_engine, at)
        assert (again.written, again.due_users) == (0, 0)
        assert again.already_reported == len(by_zone["Europe/Berlin"] + by_zone["UTC"])

    for at in _hours(ts("2026-11-30 05:00"), MONDAY_18):  # the rest of the day, on time
        assert not _window(postgres_engine, at).errors
    assert _reports_per_user(postgres_engine) == Counter(dict.fromkeys(pop.user_ids, 1))
    with postgres_engine.connect() as conn:
        predictions = conn.exec_driver_sql(
            "SELECT count(*), count(DISTINCT user_id) FROM transformation_predictions"
        ).one()
    assert tuple(predictions) == (len(pop.user_ids), len(pop.user_ids))


def _coverage(monkeypatch: pytest.MonkeyPatch, engine: sa.Engine) -> dict[str, Any]:
    monkeypatch.setenv("FITNESS_DATABASE_URL", url_of(engine))
    job = build_definitions().resolve_job_def("weekly_report_coverage_job")
    result = job.execute_in_process(
        partition_key=W.isoformat(), instance=dg.DagsterInstance.ephemeral(), raise_on_error=False
    )
    assert result.success
    (evaluation,) = result.get_asset_check_evaluations()
    (mat,) = result.get_asset_materialization_events()
    assert mat.materialization.metadata is not None
    return {
        "passed": evaluation.passed,
        **{k: v.value for k, v in mat.materialization.metadata.items()},
    }


def test_a_daemon_down_for_whole_windows_is_named_by_coverage_and_caught_up(
    postgres_engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    zones = (
        "Pacific/Kiritimati",  # window Sun 13:00–16:00 UTC
        "Asia/Tokyo",  # Sun 18:00–21:00 UTC
        "Europe/Berlin",  # Mon 02:00–05:00 UTC
        "UTC",  # Mon 03:00–06:00 UTC
        "America/New_York",  # Mon 08:00–11:00 UTC
        "Pacific/Pago_Pago",  # Mon 14:00–17:00 UTC
    )
    pop = population(24, zones=zones)
    pop.write(postgres_engine)
    by_zone = {z: sorted(u["id"] for u in pop.users if u["timezone"] == z) for z in zones}

    # The daemon runs the sensor's hourly window runs until Sunday 22:00 UTC, then is down
    # through Monday 18:00 UTC: the windows of Berlin, UTC, New York and Pago Pago pass.
    for at in _hours(SUNDAY_13, ts("2026-11-29 22:00")):
        assert not _window(postgres_engine, at).errors
    missed = sorted(
        by_zone["Europe/Berlin"]
        + by_zone["UTC"]
        + by_zone["America/New_York"]
        + by_zone["Pacific/Pago_Pago"]
    )
    judged = _coverage(monkeypatch, postgres_engine)
    assert judged["passed"] is False
    assert judged["missing_user_ids"] == missed
    assert (judged["eligible_users"], judged["with_report"], judged["missing_users"]) == (
        24,
        24 - len(missed),
        len(missed),
    )

    catch_up = run_weekly(postgres_engine, mode="catch_up", week=W)
    assert sorted(catch_up.written_user_ids) == missed
    assert catch_up.already_reported == 24 - len(missed) and not catch_up.errors

    judged = _coverage(monkeypatch, postgres_engine)
    assert judged["passed"] is True
    assert judged["missing_user_ids"] == []
    assert (judged["eligible_users"], judged["with_report"], judged["coverage_pct"]) == (
        24,
        24,
        100.0,
    )
    assert _reports_per_user(postgres_engine) == Counter(dict.fromkeys(pop.user_ids, 1))
