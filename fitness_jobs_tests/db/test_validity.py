"""The SQL forms of validation keep exactly the rows the pandas validation keeps."""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd
import sqlalchemy as sa

from fitness_jobs.core.validation import validate_set_summaries, validate_sets, validate_workouts
from fitness_jobs.db import active_users, reads
from fitness_jobs.db.schema import Workout, WorkoutSet
from fitness_jobs.db.set_summaries import set_summaries
from fitness_jobs.db.validity import valid_set, valid_workout
from fitness_jobs_tests.factories import ts, user, workout, workout_set, write

NOW = ts("2026-11-29 02:00")
FIN = ts("2026-11-20 10:00")


def fin(minutes: int) -> dt.datetime:
    """Distinct instants, so that no two test workouts are duplicates of each other."""
    return FIN + dt.timedelta(minutes=minutes)


# One workout per rule edge; ids are the workout ids.
WORKOUTS = [
    workout(1, fin(1), id=1),  # fine
    workout(1, fin(2), id=2, duration_seconds=-5),  # negative duration
    workout(1, fin(3), id=3, duration_seconds=0),  # 0 s is allowed
    workout(1, fin(4), id=4, duration_seconds=12 * 3600),  # the maximum is allowed
    workout(1, fin(5), id=5, duration_seconds=12 * 3600 + 1),  # absurd
    workout(1, fin(6), id=6, duration_seconds=None),  # missing: allowed (no load)
    workout(1, fin(7), id=7, session_rpe=0),  # RPE below 1
    workout(1, fin(8), id=8, session_rpe=11),  # RPE above 10
    workout(1, fin(9), id=9, session_rpe=None),  # missing RPE: allowed
    workout(1, fin(10), id=10, started_at=fin(10) + dt.timedelta(seconds=1)),  # started after
    workout(1, NOW + dt.timedelta(minutes=6), id=11),  # future beyond tolerance
    workout(1, NOW + dt.timedelta(minutes=4), id=12),  # future within tolerance
    workout(1, fin(13), id=13, status="bogus"),  # unknown status
    workout(1, fin(14), id=14, status="abandoned"),  # a valid status
]
SETS = [
    workout_set(1, id=101),
    workout_set(1, id=102, reps=0),
    workout_set(1, id=103, reps=100),
    workout_set(1, id=104, reps=101),
    workout_set(1, id=105, weight_kg=0.0),
    workout_set(1, id=106, weight_kg=600.0),
    workout_set(1, id=107, weight_kg=600.5),
    workout_set(1, id=108, weight_kg=-1.0),
    workout_set(1, id=109, weight_kg=math.inf),
]


def test_sql_predicates_keep_what_pandas_validation_keeps(db_engine: sa.Engine) -> None:
    write(db_engine, users=[user(1)], workouts=WORKOUTS, sets=SETS)
    w = Workout.__table__
    s = WorkoutSet.__table__
    with db_engine.connect() as conn:
        sql_workouts = set(conn.execute(sa.select(w.c.id).where(valid_workout(w, NOW))).scalars())
        sql_sets = set(conn.execute(sa.select(s.c.id).where(valid_set(s))).scalars())
        frame = reads.workouts(conn, [1], ts("2026-01-01 00:00"), ts("2027-01-01 00:00"))
        set_frame = reads.workout_sets(conn, [1], ts("2026-01-01 00:00"), ts("2027-01-01 00:00"))
    kept, _ = validate_workouts(frame, NOW)
    kept_sets, _ = validate_sets(set_frame)
    assert sql_workouts == {1, 3, 4, 6, 9, 12, 14}
    assert sql_workouts == set(kept["workout_id"])
    assert sql_sets == {101, 103, 105, 106}
    assert sql_sets == set(kept_sets["set_id"])


def test_first_session_and_active_users_ignore_excluded_rows(db_engine: sa.Engine) -> None:
    """A negative-duration workout is neither a first session nor makes anyone active."""
    as_of = ts("2026-11-29 00:00")
    write(
        db_engine,
        users=[user(1), user(2)],
        workouts=[
            workout(1, as_of - dt.timedelta(days=60), duration_seconds=-60),  # excluded
            workout(1, as_of - dt.timedelta(days=20)),
            workout(2, as_of - dt.timedelta(days=2), session_rpe=11),  # excluded
        ],
    )
    with db_engine.connect() as conn:
        first = reads.first_session_at(conn, [1, 2], as_of, now=NOW)
        active = active_users.active_user_ids(conn, as_of, now=NOW)
    assert first.set_index("user_id")["first_session_at"].to_dict() == {
        1: pd.Timestamp(as_of - dt.timedelta(days=20))
    }
    assert active == [1]


def test_set_summaries_count_and_sum_as_the_sets_themselves(db_engine: sa.Engine) -> None:
    """The nightly job's one row per workout gives ``validate_sets``' counts (workouts not
    kept first, then reps, then weight) and, when exact, the volume of the kept working sets
    (on PostgreSQL through a LATERAL subquery per workout, on SQLite through a join)."""
    sets = [
        *SETS,  # workout 1 (kept): bad reps and weights among them
        workout_set(1, id=110, is_warmup=True, weight_kg=40.0),  # a warm-up: no volume
        workout_set(1, id=111, reps=3, weight_kg=62.25),
        workout_set(2, id=201),  # workout 2 (negative duration): every set excluded
        workout_set(2, id=202, reps=1000),
        workout_set(3, id=301, weight_kg=20.41),  # not whole quarters: inexact
        workout_set(3, id=302, reps=0, weight_kg=20.41),  # invalid: neither
    ]
    write(db_engine, users=[user(1)], workouts=WORKOUTS, sets=sets)
    after, until = ts("2026-01-01 00:00"), ts("2027-01-01 00:00")
    with db_engine.connect() as conn:
        summaries = set_summaries(conn, [1], after, until).set_index("workout_id")
        set_frame = reads.workout_sets(conn, [1], after, until)
    # One row per workout that has sets (none for the others), in workout id order.
    assert summaries.index.tolist() == [1, 2, 3]
    kept_workouts = [1, 3, 4, 6, 9, 12, 14]
    kept_sets, expected = validate_sets(set_frame, kept_workout_ids=kept_workouts)
    kept_summaries, counted = validate_set_summaries(summaries.reset_index(), kept_workouts)
    assert counted == expected
    assert set(kept_summaries["workout_id"]) == {1, 3}
    working = kept_sets[~kept_sets["is_warmup"]]
    volume = (working["reps"] * working["weight_kg"]).groupby(working["workout_id"]).sum()
    assert summaries.loc[1, "volume_16ths"] / 16.0 == volume[1]
    assert summaries.loc[1, "inexact"] == 0
    assert summaries.loc[3, ["volume_16ths", "inexact"]].tolist() == [0, 1]
    assert summaries.loc[2, ["sets", "invalid_reps", "invalid_weight"]].tolist() == [2, 1, 0]


def test_first_session_is_the_earliest_valid_session_up_to_as_of(db_engine: sa.Engine) -> None:
    """Earlier rows that are not sessions (abandoned, still in progress, invalid) are
    passed over; a session after ``as_of`` does not count; a user asked for twice is one
    row, one without a session none."""
    as_of = ts("2026-11-29 00:00")
    day = dt.timedelta(days=1)
    write(
        db_engine,
        users=[user(1), user(2), user(3)],
        workouts=[
            workout(1, as_of - 90 * day, status="abandoned"),
            workout(1, as_of - 80 * day, session_rpe=0),  # excluded
            workout(1, None, status="in_progress", started_at=as_of - 85 * day),
            workout(1, as_of - 70 * day, status="partial"),  # the first session
            workout(1, as_of - 10 * day),
            workout(2, as_of + dt.timedelta(minutes=1)),  # after as_of
            workout(2, as_of - 5 * day, status="abandoned"),
        ],
    )
    with db_engine.connect() as conn:
        first = reads.first_session_at(conn, [1, 2, 3, 1], as_of, now=NOW)
    assert first.set_index("user_id")["first_session_at"].to_dict() == {
        1: pd.Timestamp(as_of - 70 * day)
    }
