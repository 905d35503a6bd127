"""The demo generator's bad input (DESIGN §8) through both runs: only the users with an
invalid time zone fail; every other bad row is excluded and counted; nothing aborts."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from fitness_jobs.demo.generator import DemoConfig, generate_demo, write_demo
from fitness_jobs.pipelines.nightly import run_nightly
from fitness_jobs.pipelines.weekly import run_weekly

NOW = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.UTC)


def test_bad_rows_fail_only_their_users(db_engine: sa.Engine) -> None:
    frames = generate_demo(
        DemoConfig(users=40, seed=1, days=60, today=NOW.date(), with_bad_rows=True), now=NOW
    )
    write_demo(db_engine, frames)
    bad = frames["bad_rows"]
    tz_users = set(bad.loc[bad["kind"].str.startswith("timezone_"), "user_id"].astype(int))
    assert len(tz_users) == 5

    nightly = run_nightly(db_engine, dt.date(2026, 11, 28), now=NOW)
    assert nightly.failed == dict.fromkeys(sorted(tz_users), "invalid_timezone")
    assert nightly.written == nightly.active_users - len(tz_users)
    assert {
        "negative_duration",
        "absurd_duration",
        "session_rpe_out_of_range",
        "duplicate_workout",
        "invalid_reps",
        "invalid_set_weight",
    } <= set(nightly.excluded_rows)
    # The users who only had one bad row are computed like everyone else.
    other_bad = set(bad["user_id"].astype(int)) - tz_users
    with db_engine.connect() as conn:
        written = set(conn.execute(sa.text("SELECT user_id FROM user_behavior_metrics")).scalars())
    assert len(other_bad) == 15 and other_bad <= written
    assert nightly.range_violations == {}

    weekly = run_weekly(db_engine, mode="catch_up", week=dt.date(2026, 11, 16), now=NOW)
    assert weekly.failed == dict.fromkeys(sorted(tz_users), "invalid_timezone")
    assert weekly.written > 0
