"""Contract gaps closed in review: bad rows never leak into history, blank zones mean UTC
on both databases, generated_at is the time of the write, user ids stay integers."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import sqlalchemy as sa

from fitness_jobs.db import reads
from fitness_jobs.pipelines.nightly import run_nightly
from fitness_jobs.pipelines.weekly import report_rows, run_weekly
from fitness_jobs_tests.factories import ts, user, workout, write

D = dt.date(2026, 11, 28)
AS_OF = ts("2026-11-29 00:00")
NOW = ts("2026-11-29 02:00")
W = dt.date(2026, 11, 16)  # a reported week, long over at NOW


def _metrics(engine: sa.Engine) -> pd.DataFrame:
    with engine.connect() as conn:
        return reads.metrics_rows(conn).set_index("user_id").sort_index()


def test_an_excluded_old_workout_does_not_make_acwr_defined(db_engine: sa.Engine) -> None:
    """ACWR is NULL while the earliest *valid* session is under 28 days old: a bad row
    60 days ago (negative duration) must not count as history."""
    write(
        db_engine,
        users=[user(1), user(2)],
        workouts=[
            workout(1, AS_OF - dt.timedelta(days=60), duration_seconds=-60),
            workout(1, AS_OF - dt.timedelta(days=20)),
            workout(2, AS_OF - dt.timedelta(days=60)),  # a valid old session: ACWR defined
            workout(2, AS_OF - dt.timedelta(days=20)),
        ],
    )
    report = run_nightly(db_engine, D, now=NOW)
    assert report.excluded_rows == {"negative_duration": 1}
    rows = _metrics(db_engine)
    assert pd.isna(rows.loc[1, "acwr"])
    assert rows.loc[2, "acwr"] > 0


def test_blank_time_zones_mean_utc_and_count_with_null(db_engine: sa.Engine) -> None:
    write(
        db_engine,
        users=[user(1, timezone=""), user(2, timezone="   "), user(3, timezone=None), user(4)],
        workouts=[workout(u, "2026-11-28 23:30") for u in (1, 2, 3, 4)],
    )
    report = run_nightly(db_engine, D, now=NOW)
    assert report.failed == {}
    assert report.timezones == {"null_fallback_utc": 3}
    rows = _metrics(db_engine)
    assert rows["timezone"].tolist() == ["UTC"] * 4
    assert rows["metrics_date"].tolist() == [dt.date(2026, 11, 29)] * 4

    weekly = run_weekly(db_engine, mode="catch_up", week=W, now=NOW)
    assert weekly.failed == {} and sorted(weekly.written_user_ids) == [1, 2, 3, 4]
    assert weekly.timezones == {"null_fallback_utc": 3}
    assert report_rows(db_engine, W)["timezone"].tolist() == ["UTC"] * 4


def test_generated_at_is_the_write_time_not_the_reference_instant(db_engine: sa.Engine) -> None:
    write(db_engine, users=[user(1, timezone="Europe/Berlin")])
    at = ts("2026-11-23 03:30+01:00")  # inside Berlin's window for W, long ago
    before = dt.datetime.now(dt.UTC)
    run = run_weekly(db_engine, mode="window", at=at)
    after = dt.datetime.now(dt.UTC)
    assert run.at == at and run.written_user_ids == [1]
    generated = pd.Timestamp(report_rows(db_engine, W).loc[0, "generated_at"]).to_pydatetime()
    assert before <= generated <= after


def test_user_ids_beyond_float_precision_survive(db_engine: sa.Engine) -> None:
    big = 2**53 + 1  # float(big) == 2**53: an id that passed through float would change
    write(db_engine, users=[user(big)], workouts=[workout(big, "2026-11-18 10:00")])
    nightly = run_nightly(db_engine, D, now=NOW)
    assert nightly.failed == {} and nightly.written == 1
    assert _metrics(db_engine).index.tolist() == [big]
    weekly = run_weekly(db_engine, mode="catch_up", week=W, now=NOW)
    assert weekly.failed == {} and weekly.written_user_ids == [big]
    row = report_rows(db_engine, W).iloc[0]
    assert int(row["user_id"]) == big and row["report"]["user_id"] == big
