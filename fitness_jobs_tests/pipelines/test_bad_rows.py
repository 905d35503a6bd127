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
    # Week 16–22 Nov reads rows up to its end plus the two-day UTC margin (design §11):
    # 25 Nov 00:00 UTC.  Only two bad rows are that early: user 56's 3-day workout
    # (absurd_duration, and its sets are workout_excluded) and user 53's 1000-rep set.
    workouts = frames["workouts"].set_index("id")
    sets = frames["workout_sets"].set_index("id")
    finalized = {
        row.kind: workouts.loc[
            row.row_id if row.table == "workouts" else sets.loc[row.row_id, "workout_id"],
            "finalized_at",
        ]
        for row in bad[bad["table"].isin(["workouts", "workout_sets"])].itertuples()
    }
    weigh_ins = frames["body_weight_logs"].set_index("id")
    measured = [
        weigh_ins.loc[i, "measured_at"]
        for i in bad.loc[bad["table"] == "body_weight_logs", "row_id"]
    ]
    read_until = dt.datetime(2026, 11, 25, tzinfo=dt.UTC)
    assert sorted(k for k, t in finalized.items() if t <= read_until) == [
        "duration_absurd",
        "set_reps_absurd",
    ]
    assert all(t > read_until for t in measured)
    (absurd_id,) = bad.loc[bad["kind"] == "duration_absurd", "row_id"]
    absurd_sets = int((frames["workout_sets"]["workout_id"] == absurd_id).sum())
    assert absurd_sets == 21
    assert weekly.excluded_rows == {
        "absurd_duration": 1,
        "workout_excluded": 21,
        "invalid_reps": 1,
    }
