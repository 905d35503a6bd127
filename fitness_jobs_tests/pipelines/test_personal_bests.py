"""Kept personal bests (``pipelines.personal_bests``), on SQLite and PostgreSQL: a week
after the first reads only what the mark does not cover and gives the reports of the
whole history; late sessions still count; edits reach the kept bests by regeneration; an
earlier week's backfill neither uses nor moves a later mark; without the tables, the
whole history is read as before."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from fitness_jobs.db import weekly as queries
from fitness_jobs.pipelines.weekly import report_rows, run_weekly
from fitness_jobs_tests.factories import ts, user, workout, workout_set, write

W1 = dt.date(2026, 11, 9)  # the first reported week
W2 = dt.date(2026, 11, 16)  # the next
NOW = ts("2026-12-01 09:00")
MARK_W1 = ts("2026-11-07 00:00")  # W1 − 2 days: what W1's run keeps its bests through
MARK_W2 = ts("2026-11-14 00:00")


def _epley(weight: float, reps: int) -> float:
    return weight if reps == 1 else weight * (1 + reps / 30)


def _records(engine: sa.Engine, week: dt.date) -> dict[int, list[dict[str, Any]]]:
    out = {}
    for _, row in report_rows(engine, week).iterrows():
        value = row["report"]
        value = value if isinstance(value, dict) else json.loads(value)
        out[int(row["user_id"])] = value["personal_records"]
    return out


def _kept(engine: sa.Engine) -> tuple[dict[tuple[int, str], float | None], dict[int, Any]]:
    with engine.connect() as conn:
        bests = {
            (int(u), e): (None if b is None else float(b))
            for u, e, b in conn.exec_driver_sql(
                "SELECT user_id, exercise, best_e1rm FROM personal_bests"
            )
        }
        marks = {
            int(u): (
                pd.Timestamp(t).tz_localize("UTC")
                if pd.Timestamp(t).tzinfo is None
                else pd.Timestamp(t),
                int(s),
            )
            for u, t, s in conn.exec_driver_sql(
                "SELECT user_id, finalized_through, set_id FROM personal_best_marks"
            )
        }
    return bests, marks


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every whole or partial read of earlier bests: its users and its limits."""
    seen: list[dict[str, Any]] = []
    real = queries.prior_best_e1rm

    def spy(conn: sa.Connection, user_ids: Any, until: Any, now: Any, **kw: Any) -> Any:
        seen.append({"users": sorted(user_ids), **kw})
        return real(conn, user_ids, until, now, **kw)

    monkeypatch.setattr(queries, "prior_best_e1rm", spy)
    return seen


def _history(engine: sa.Engine) -> None:
    """User 1 benched 100 kg × 5 ten weeks back; trains in W1 (102.5 kg) and W2 (105 kg).
    User 2 squats in both weeks with no history before."""
    write(
        engine,
        users=[user(1), user(2)],
        workouts=[
            workout(1, "2026-09-07 10:00", id=100),
            workout(1, "2026-11-11 10:00", id=110),  # Wednesday of W1
            workout(1, "2026-11-18 10:00", id=120),  # Wednesday of W2
            workout(2, "2026-11-11 10:00", id=210),
            workout(2, "2026-11-18 10:00", id=220),
        ],
        sets=[
            workout_set(100, exercise="bench press", reps=5, weight_kg=100.0),
            workout_set(110, exercise="bench press", reps=5, weight_kg=102.5),
            workout_set(120, exercise="bench press", reps=5, weight_kg=105.0),
            workout_set(210, exercise="squat", reps=3, weight_kg=120.0),
            workout_set(220, exercise="squat", reps=3, weight_kg=125.0),
        ],
    )


def test_the_next_week_reads_only_what_its_mark_does_not_cover(
    db_engine: sa.Engine, calls: list[dict[str, Any]]
) -> None:
    _history(db_engine)
    first = run_weekly(db_engine, mode="catch_up", week=W1, now=NOW)
    assert first.failed == {} and first.written_user_ids == [1, 2]
    assert calls == [{"users": [1, 2]}]  # nothing kept yet: the whole history
    bests, marks = _kept(db_engine)
    assert bests == {(1, "bench press"): _epley(100.0, 5)}  # before W1 − 2 days
    with db_engine.connect() as conn:
        last_set = conn.exec_driver_sql("SELECT max(id) FROM workout_sets").scalar_one()
    assert marks == {1: (MARK_W1, last_set), 2: (MARK_W1, last_set)}
    (record,) = _records(db_engine, W1)[1]
    assert record["previous_best_e1rm_kg"] == round(_epley(100.0, 5), 3)

    calls.clear()
    second = run_weekly(db_engine, mode="catch_up", week=W2, now=NOW)
    assert second.failed == {} and second.written_user_ids == [1, 2]
    # The kept bests, plus the sessions finalized after the mark and the sets above it.
    assert calls == [
        {"users": [1, 2], "after": MARK_W1},
        {"users": [1, 2], "sets_above": last_set},
    ]
    records = _records(db_engine, W2)
    (bench,) = records[1]
    assert bench["previous_best_e1rm_kg"] == round(_epley(102.5, 5), 3)
    assert bench["e1rm_kg"] == round(_epley(105.0, 5), 3)
    (squat,) = records[2]
    assert squat["previous_best_e1rm_kg"] == round(_epley(120.0, 3), 3)
    bests, marks = _kept(db_engine)
    assert bests == {(1, "bench press"): _epley(102.5, 5), (2, "squat"): _epley(120.0, 3)}
    assert {uid: mark[0] for uid, mark in marks.items()} == {1: MARK_W2, 2: MARK_W2}

    # The same reports as from the whole history: regenerate W2 without the kept bests.
    kept_rows = report_rows(db_engine, W2).drop(columns=["id", "generated_at"])
    calls.clear()
    again = run_weekly(db_engine, mode="catch_up", week=W2, now=NOW, regenerate=True)
    assert again.failed == {} and calls == [{"users": [1, 2]}]
    whole_rows = report_rows(db_engine, W2).drop(columns=["id", "generated_at"])
    pd.testing.assert_frame_equal(kept_rows, whole_rows, check_exact=True)


def test_a_session_that_arrives_late_below_the_mark_still_counts(
    db_engine: sa.Engine, calls: list[dict[str, Any]]
) -> None:
    """A session finalized weeks before the mark but written after it (an offline phone
    syncing late) has sets with ids above the mark's: the next run reads them."""
    _history(db_engine)
    run_weekly(db_engine, mode="catch_up", week=W1, now=NOW)
    write(
        db_engine,
        workouts=[workout(1, "2026-10-05 10:00", id=105)],  # before MARK_W1
        sets=[workout_set(105, exercise="bench press", reps=5, weight_kg=110.0)],
    )
    run_weekly(db_engine, mode="catch_up", week=W2, now=NOW)
    # 105 kg × 5 in W2 beats W1's 102.5 kg × 5 but not the late 110 kg × 5: no record.
    assert _records(db_engine, W2)[1] == []
    bests, _ = _kept(db_engine)
    assert bests[(1, "bench press")] == _epley(110.0, 5)


def test_an_edited_old_session_reaches_the_kept_bests_by_regeneration(
    db_engine: sa.Engine,
) -> None:
    """An edit to a row below the mark is not seen by the next run (nothing in the app's
    rows says it changed); regenerating the user's report reads their whole history
    again and keeps what it finds, lower or gone (NULL)."""
    _history(db_engine)
    write(
        db_engine,
        workouts=[workout(2, "2026-09-08 10:00", id=200)],
        sets=[workout_set(200, exercise="deadlift", reps=5, weight_kg=140.0)],
    )
    run_weekly(db_engine, mode="catch_up", week=W1, now=NOW)
    assert _kept(db_engine)[0] == {
        (1, "bench press"): _epley(100.0, 5),
        (2, "deadlift"): _epley(140.0, 5),
    }
    with db_engine.begin() as conn:  # 100 kg was a typo for 90 kg; the deadlift, a mistake
        conn.exec_driver_sql("UPDATE workout_sets SET weight_kg = 90.0 WHERE workout_id = 100")
        conn.exec_driver_sql("DELETE FROM workout_sets WHERE workout_id = 200")
    run_weekly(db_engine, mode="catch_up", week=W2, now=NOW)
    assert _kept(db_engine)[0][(2, "deadlift")] == _epley(140.0, 5)  # not seen

    run = run_weekly(db_engine, mode="catch_up", week=W2, now=NOW, regenerate=True, user_ids=[1, 2])
    assert run.failed == {}
    bests, marks = _kept(db_engine)
    assert bests == {
        (1, "bench press"): _epley(102.5, 5),  # W1's own set, over the corrected 90 kg
        (2, "deadlift"): None,
        (2, "squat"): _epley(120.0, 3),
    }
    assert {uid: mark[0] for uid, mark in marks.items()} == {1: MARK_W2, 2: MARK_W2}

    # Regenerating W1 keeps W1's bests and moves the mark back: still exact.
    run_weekly(db_engine, mode="catch_up", week=W1, now=NOW, regenerate=True, user_ids=[1])
    bests, marks = _kept(db_engine)
    assert bests[(1, "bench press")] == _epley(90.0, 5) and marks[1][0] == MARK_W1
    (bench,) = _records(db_engine, W1)[1]
    assert bench["previous_best_e1rm_kg"] == round(_epley(90.0, 5), 3)


def test_a_backfill_of_an_earlier_week_neither_uses_nor_moves_a_later_mark(
    db_engine: sa.Engine, calls: list[dict[str, Any]]
) -> None:
    _history(db_engine)
    run_weekly(db_engine, mode="catch_up", week=W2, now=NOW)
    assert _records(db_engine, W2)[1][0]["previous_best_e1rm_kg"] == round(_epley(102.5, 5), 3)
    before = _kept(db_engine)
    calls.clear()
    run_weekly(db_engine, mode="catch_up", week=W1, now=NOW)
    assert calls == [{"users": [1, 2]}]  # the whole history, as of W1
    (bench,) = _records(db_engine, W1)[1]
    assert bench["previous_best_e1rm_kg"] == round(_epley(100.0, 5), 3)  # not W1's own
    assert _kept(db_engine) == before


def test_without_the_tables_the_whole_history_is_read(
    sqlite_engine: sa.Engine, calls: list[dict[str, Any]]
) -> None:
    with sqlite_engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE personal_bests")
    _history(sqlite_engine)
    logged: list[tuple[str, str]] = []
    for week in (W1, W2):
        run = run_weekly(
            sqlite_engine,
            mode="catch_up",
            week=week,
            now=NOW,
            log=lambda level, msg: logged.append((level, msg)),
        )
        assert run.failed == {}
    assert calls == [{"users": [1, 2]}, {"users": [1, 2]}]
    warnings = [m for level, m in logged if level == "warning" and "kept personal bests" in m]
    assert len(warnings) == 2 and "no table personal_bests" in warnings[0]
    (bench,) = _records(sqlite_engine, W2)[1]
    assert bench["previous_best_e1rm_kg"] == round(_epley(102.5, 5), 3)
