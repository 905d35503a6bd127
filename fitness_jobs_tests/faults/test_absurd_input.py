"""Absurd input: each bad row is excluded and counted under its exact reason, a zone that is
SQL fails only its user (``invalid_timezone``), no batch aborts, the users table is still
there, and no statement sent to the database contains text taken from the data."""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa

from fitness_jobs.db.schema import UserBehaviorMetrics
from fitness_jobs.pipelines.nightly import run_nightly
from fitness_jobs.pipelines.weekly import run_weekly
from fitness_jobs_tests.factories import ts, user, weigh_in, workout, workout_set, write
from fitness_jobs_tests.faults.conftest import NOW, D, W

EVIL_ZONE = "'); DROP TABLE users; --"
GOOD_DAY = "2026-11-27 10:00"
BAD_DAY = "2026-11-26 10:00"
USERS = 12


def _rows() -> dict[str, list[dict[str, Any]]]:
    users = [user(uid) for uid in range(1, USERS + 1)]
    users[10 - 1]["timezone"] = EVIL_ZONE
    users[8 - 1].update(birth_date=dt.date(9999, 1, 1), deleted_at=ts("9999-12-31 00:00"))
    users[7 - 1]["height_cm"] = float("inf")
    # Every user has one clean session (so everyone is active and eligible) and a clean set.
    workouts = [workout(uid, GOOD_DAY, id=uid * 100) for uid in range(1, USERS + 1)]
    sets = [workout_set(uid * 100, id=uid * 1000) for uid in range(1, USERS + 1)]
    weigh_ins = [weigh_in(uid, "2026-11-25 07:00", 80.0) for uid in range(1, USERS + 1)]
    # Users 6–8 (NaN height, +∞ height, born in 9999) weigh in daily: their predictions are
    # computed, not skipped for want of data.
    weigh_ins += [
        weigh_in(uid, ts("2026-11-02 07:00") + dt.timedelta(days=day), 80.0 - 0.05 * day)
        for uid in (6, 7, 8)
        for day in range(28)
        if day != 23  # 2026-11-25 is above
    ]

    sets.append(workout_set(200, id=2001, weight_kg=1e9))  # user 2: a billion kg
    weigh_ins.append(weigh_in(2, "2026-11-26 07:00", 1e9))
    sets.append(workout_set(300, id=3001, reps=1_000_000))  # user 3: a million reps
    workouts.append(workout(4, BAD_DAY, id=401, duration_seconds=-5))  # user 4: −5 s
    sets.append(workout_set(401, id=4011))
    workouts.append(workout(5, BAD_DAY, id=501, duration_seconds=30 * 86_400))  # user 5: 30 days
    sets.append(workout_set(501, id=5011))
    sets.append(workout_set(600, id=6001, weight_kg=60.0, rpe=8.0))  # user 6: NaN (set below)
    weigh_ins.append({**weigh_in(6, "2026-11-26 07:00", 81.0), "id": 6002})
    sets.append(workout_set(700, id=7001, weight_kg=float("inf")))  # user 7: ±∞
    weigh_ins.append(weigh_in(7, "2026-11-26 07:00", float("-inf")))
    # user 8: year 9999: started in 9999, finalised now; finalised in 9999; weighed in 9999
    workouts.append(workout(8, BAD_DAY, id=801, started_at=ts("9999-01-01 00:00")))
    sets.append(workout_set(801, id=8011))
    workouts.append(workout(8, ts("9999-12-31 00:00"), id=802))
    weigh_ins.append(weigh_in(8, "9999-06-01 00:00", 80.0))
    # user 9: the same workout twice (two ids)
    twin = workout(9, BAD_DAY, id=901)
    workouts += [twin, {**twin, "id": 902}]
    sets += [workout_set(901, id=9011), workout_set(902, id=9021)]
    workouts.append(workout(11, BAD_DAY, id=1101, session_rpe=30_000))  # user 11: RPE 30,000
    sets.append(workout_set(1101, id=11011))
    return {"users": users, "workouts": workouts, "sets": sets, "weigh_ins": weigh_ins}


def _seed(engine: sa.Engine) -> None:
    write(engine, **_rows())
    with engine.begin() as conn:  # NaN goes in as the database's own 'NaN' (real)
        conn.exec_driver_sql(
            "UPDATE workout_sets SET weight_kg = 'NaN', rpe = 'NaN' WHERE id = 6001"
        )
        conn.exec_driver_sql("UPDATE body_weight_logs SET weight_kg = 'NaN' WHERE id = 6002")
        conn.exec_driver_sql("UPDATE users SET height_cm = 'NaN' WHERE id = 6")


Statement = tuple[str, Any]


@pytest.fixture
def statements(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Statement]]:
    """Every statement the driver sends (text and parameters), COPY included."""
    sent: list[Statement] = []

    def text(query: Any) -> str:
        if isinstance(query, bytes):
            return query.decode()
        return query if isinstance(query, str) else repr(query)

    real_execute, real_executemany, real_copy = (
        psycopg.Cursor.execute,
        psycopg.Cursor.executemany,
        psycopg.Cursor.copy,
    )

    def execute(self: psycopg.Cursor[Any], query: Any, params: Any = None, **kw: Any) -> Any:
        sent.append((text(query), params))
        return real_execute(self, query, params, **kw)

    def executemany(self: psycopg.Cursor[Any], query: Any, params_seq: Any, **kw: Any) -> Any:
        params_seq = list(params_seq)
        sent.append((text(query), params_seq))
        return real_executemany(self, query, params_seq, **kw)

    def copy(self: psycopg.Cursor[Any], statement: Any, params: Any = None, **kw: Any) -> Any:
        sent.append((text(statement), params))
        return real_copy(self, statement, params, **kw)

    monkeypatch.setattr(psycopg.Cursor, "execute", execute)
    monkeypatch.setattr(psycopg.Cursor, "executemany", executemany)
    monkeypatch.setattr(psycopg.Cursor, "copy", copy)
    yield sent


def _bound(params: Any) -> list[Any]:
    if isinstance(params, dict):
        return list(params.values())
    return list(params or [])


def test_absurd_rows_are_excluded_and_counted_and_sql_in_a_zone_stays_data(
    postgres_engine: sa.Engine, statements: list[Statement]
) -> None:
    _seed(postgres_engine)
    statements.clear()

    nightly = run_nightly(postgres_engine, D, now=NOW)
    assert nightly.failed == {10: "invalid_timezone"}
    assert nightly.committed == USERS - 1  # no batch abort: everyone else has a row
    assert nightly.timezones == Counter({"invalid": 1})
    expected_rows = Counter(
        {
            "invalid_set_weight": 3,  # 1e9 kg, NaN, +∞
            "invalid_reps": 1,  # 10^6
            "negative_duration": 1,  # −5 s
            "absurd_duration": 1,  # 30 days
            "started_after_finalized": 1,  # started in 9999 (finalised in 9999: after the snapshot, unread)
            "duplicate_workout": 1,  # the second of two identical workouts
            "session_rpe_out_of_range": 1,  # 30,000
            "workout_excluded": 5,  # the sets of those five workouts
        }
    )
    assert nightly.excluded_rows == expected_rows
    assert nightly.range_violations == {}  # nothing absurd reached the written metrics
    floats = [c.name for c in UserBehaviorMetrics.__table__.columns if isinstance(c.type, sa.Float)]
    non_finite = " OR ".join(f"\"{c}\" IN ('NaN', 'Infinity', '-Infinity')" for c in floats)
    with postgres_engine.connect() as conn:
        assert (
            conn.exec_driver_sql(
                f"SELECT count(*) FROM user_behavior_metrics WHERE {non_finite}"
            ).scalar()
            == 0
        )

    # Window mode at 04:00 UTC on the report Monday: every UTC user is in their window, and
    # the zone resolution sees the SQL-looking zone; then a catch-up of the same week.
    window = run_weekly(postgres_engine, mode="window", at=ts("2026-11-30 04:00"), now=NOW)
    assert window.week_start == W
    assert window.failed == {10: "invalid_timezone"}
    assert window.written == USERS - 1
    weekly_rows = expected_rows + Counter({"invalid_body_weight": 3})  # 1e9 kg, NaN, −∞
    assert window.excluded_rows == weekly_rows
    catch_up = run_weekly(postgres_engine, mode="catch_up", week=W, now=NOW)
    assert catch_up.failed == {10: "invalid_timezone"}
    assert (catch_up.written, catch_up.already_reported) == (0, USERS - 1)

    with postgres_engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT to_regclass('public.users')").scalar() == "users"
        assert conn.exec_driver_sql("SELECT count(*) FROM users").scalar() == USERS
        predictions = conn.exec_driver_sql(
            "SELECT user_id, status, tau_days, projected_4w_kg, flags FROM transformation_predictions "
            "ORDER BY user_id"
        ).all()
    assert [p[0] for p in predictions] == [u for u in range(1, USERS + 1) if u != 10]
    modelled = {p[0]: p[1:] for p in predictions if p[1] == "ok"}
    assert set(modelled) == {6, 7, 8}  # NaN height, +∞ height, born in 9999: no crash
    for status, tau, projected, flags in modelled.values():
        # No usable height or age: the default τ and no BMI floor, flagged; finite numbers.
        assert (status, tau, flags) == ("ok", 400.0, ["bmi_floor_unknown", "tau_default"])
        assert math.isfinite(projected)

    # No statement text carries the data: the zone went to the server only as a parameter.
    assert statements, "the statement capture saw nothing"
    assert not [sql for sql, _ in statements if "DROP TABLE" in sql or EVIL_ZONE in sql]
    assert any(EVIL_ZONE in _bound(params) for _, params in statements)
