"""Schema round-trips, bulk upserts, batch bisection and the partition lock, on both backends."""

from __future__ import annotations

import datetime as dt
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from fitness_jobs.db import bulk, isolated_writes
from fitness_jobs.db.engine import DatabaseConfigError, create_schema, make_engine, normalize_url
from fitness_jobs.db.locks import partition_lock
from fitness_jobs.db.schema import APP_TABLES, JOB_TABLES, KEPT_TABLES, Base
from fitness_jobs_tests.factories import ts, user, weigh_in, workout, workout_set, write

# The tables of design §3 (read) and §4 (written), by their fixed names.
CONTRACT_TABLES = (
    "users",
    "workouts",
    "workout_sets",
    "body_weight_logs",
    "llm_usage_daily",
    "user_behavior_metrics",
    "weekly_reports",
    "transformation_predictions",
    "coach_usage_daily",
)


def test_every_contract_table_and_column_exists(db_engine: sa.Engine) -> None:
    inspector = sa.inspect(db_engine)
    tables = set(inspector.get_table_names())
    assert set(APP_TABLES) | set(JOB_TABLES) | set(KEPT_TABLES) <= tables
    assert set(APP_TABLES) | set(JOB_TABLES) == set(CONTRACT_TABLES)  # design §3 and §4
    columns = {c["name"] for c in inspector.get_columns("users")}
    assert {
        "id",
        "email",
        "timezone",
        "plan",
        "trial_ends_at",
        "weekly_session_target",
        "sex",
        "birth_date",
        "height_cm",
        "created_at",
        "deleted_at",
    } <= columns
    indexes = {i["name"] for i in inspector.get_indexes("workouts")}
    assert {"ix_workouts_user_finalized", "ix_workouts_finalized_user"} <= indexes
    uniques = {tuple(u["column_names"]) for u in inspector.get_unique_constraints("weekly_reports")}
    assert ("user_id", "week_start") in uniques


def test_schema_round_trips_types(db_engine: sa.Engine) -> None:
    berlin_instant = dt.datetime(2026, 3, 29, 3, 30, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    write(
        db_engine,
        users=[
            user(1, birth_date=dt.date(1990, 5, 17), height_cm=181.5, trial_ends_at=berlin_instant)
        ],
        workouts=[workout(1, "2026-03-29 01:30:00.123456", id=10)],
        sets=[workout_set(10, is_warmup=True, rpe=None)],
        weigh_ins=[weigh_in(1, "2026-03-29 06:00", 81.25)],
    )
    with db_engine.connect() as conn:
        u = conn.execute(sa.select(Base.metadata.tables["users"])).one()
        w = conn.execute(sa.select(Base.metadata.tables["workouts"])).one()
        s = conn.execute(sa.select(Base.metadata.tables["workout_sets"])).one()
    assert u.trial_ends_at == ts("2026-03-29 01:30")  # stored as UTC, read back aware
    assert u.trial_ends_at.tzinfo is not None
    assert u.birth_date == dt.date(1990, 5, 17)
    assert u.height_cm == pytest.approx(181.5)
    assert w.finalized_at == ts("2026-03-29 01:30:00.123456")
    assert s.is_warmup is True and s.rpe is None
    # JSON columns
    with db_engine.begin() as conn:
        bulk.upsert(
            conn,
            "transformation_predictions",
            [
                {
                    "user_id": 1,
                    "week_start": dt.date(2026, 3, 23),
                    "generated_at": ts("2026-03-30 03:00"),
                    "status": "ok",
                    "method": "m",
                    "weigh_in_count": 3,
                    "flags": ["stable", "bmi_floor"],
                }
            ],
            ("user_id", "week_start"),
        )
    with db_engine.connect() as conn:
        flags = conn.execute(sa.text("SELECT flags FROM transformation_predictions")).scalar_one()
    assert (flags if isinstance(flags, list) else __import__("json").loads(flags)) == [
        "stable",
        "bmi_floor",
    ]


def test_db_init_is_idempotent(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.sqlite'}")
    assert set(create_schema(engine)) == set(CONTRACT_TABLES) | set(KEPT_TABLES)
    assert create_schema(engine) == []


def test_url_normalisation() -> None:
    assert normalize_url("postgresql://u@h/db").startswith("postgresql+psycopg://")
    assert normalize_url("postgresql+psycopg2://u@h/db").startswith("postgresql+psycopg://")
    assert normalize_url("sqlite:///x.db") == "sqlite:///x.db"
    with pytest.raises(DatabaseConfigError):
        normalize_url("mysql://u@h/db")
    with pytest.raises(DatabaseConfigError):
        normalize_url("not a url")


def _metric_row(uid: int, **extra: object) -> dict[str, object]:
    row: dict[str, object] = {
        "usage_date": dt.date(2026, 1, uid),
        "users_with_usage": uid,
        "total_requests": 10 * uid,
        "total_input_tokens": 1,
        "total_output_tokens": 1,
        "p95_requests_per_user": 1.0,
        "max_requests_per_user": 2,
        "computed_at": ts("2026-02-01 00:00"),
    }
    row.update(extra)
    return row


def test_upsert_update_ignore_and_unchanged(db_engine: sa.Engine) -> None:
    key = ("usage_date",)
    compare = ["users_with_usage", "total_requests"]
    with db_engine.begin() as conn:
        assert (
            len(bulk.upsert(conn, "coach_usage_daily", [_metric_row(1), _metric_row(2)], key)) == 2
        )
    with db_engine.begin() as conn:
        same = [
            _metric_row(1, computed_at=ts("2026-03-01 00:00")),
            _metric_row(2, total_requests=99, computed_at=ts("2026-03-01 00:00")),
        ]
        written = bulk.upsert(conn, "coach_usage_daily", same, key, unchanged_unless=compare)
    assert [k[0] for k in written] == [dt.date(2026, 1, 2)]
    with db_engine.begin() as conn:
        ignored = bulk.upsert(
            conn,
            "coach_usage_daily",
            [_metric_row(1, total_requests=5), _metric_row(3)],
            key,
            on_conflict="ignore",
        )
    assert [k[0] for k in ignored] == [dt.date(2026, 1, 3)]
    with db_engine.connect() as conn:
        rows = {r.usage_date: r for r in conn.execute(sa.text("SELECT * FROM coach_usage_daily"))}
    day1, day2 = (dt.date(2026, 1, 1), dt.date(2026, 1, 2))
    assert rows[_as_date(day1, rows)].total_requests == 10  # ignore kept the old row
    assert rows[_as_date(day2, rows)].total_requests == 99


def test_upsert_counted_counts_the_rows_it_writes_by_a_column(db_engine: sa.Engine) -> None:
    """The rows inserted or altered, counted by a column's value; a row left unchanged
    (``unchanged_unless``) is not counted.  A frame, so PostgreSQL stages it in binary."""
    key = ("usage_date",)
    compare = ["users_with_usage", "total_requests"]
    frame = pd.DataFrame([_metric_row(d, max_requests_per_user=1 + d % 2) for d in range(1, 6)])
    with db_engine.begin() as conn:
        counted = bulk.upsert_counted(
            conn, "coach_usage_daily", frame, key, "max_requests_per_user", compare
        )
    assert counted == {2: 3, 1: 2}  # days 1, 3, 5 and days 2, 4
    day4 = frame["usage_date"] == dt.date(2026, 1, 4)
    again = frame.assign(
        total_requests=frame["total_requests"].mask(day4, 7),
        computed_at=ts("2026-03-01 00:00"),
    )
    with db_engine.begin() as conn:
        counted = bulk.upsert_counted(
            conn, "coach_usage_daily", again, key, "max_requests_per_user", compare
        )
        assert bulk.upsert_counted(conn, "coach_usage_daily", again[:0], key, "users") == {}
    assert counted == {1: 1}
    with db_engine.connect() as conn:
        query = sa.text("SELECT users_with_usage, total_requests FROM coach_usage_daily")
        requests = {int(users): int(total) for users, total in conn.execute(query)}
    assert requests == {1: 10, 2: 20, 3: 30, 4: 7, 5: 50}


def test_upsert_counted_with_new_keys_inserts_and_falls_back_on_a_taken_one(
    db_engine: sa.Engine,
) -> None:
    """``keys_new``: the rows go in without a conflict check (PostgreSQL); when a key was
    taken after all, the savepoint gives way to the upsert, in the same transaction, and
    the result is the upsert's: the old row updated, nothing lost, nothing doubled."""
    key = ("usage_date",)
    compare = ["users_with_usage", "total_requests"]
    first = pd.DataFrame([_metric_row(d) for d in (1, 2)])
    with db_engine.begin() as conn:
        counted = bulk.upsert_counted(
            conn, "coach_usage_daily", first, key, "users_with_usage", compare, keys_new=True
        )
    assert counted == {1: 1, 2: 1}
    # Day 2 exists: claimed new all the same, it is updated as an upsert would.
    later = pd.DataFrame([_metric_row(d, total_requests=100 + d) for d in (2, 3)])
    with db_engine.begin() as conn:
        counted = bulk.upsert_counted(
            conn, "coach_usage_daily", later, key, "users_with_usage", compare, keys_new=True
        )
        assert conn.execute(sa.text("SELECT count(*) FROM coach_usage_daily")).scalar() == 3
    assert counted == {2: 1, 3: 1}
    with db_engine.connect() as conn:
        query = sa.text("SELECT users_with_usage, total_requests FROM coach_usage_daily")
        requests = {int(users): int(total) for users, total in conn.execute(query)}
    assert requests == {1: 10, 2: 102, 3: 103}


def _as_date(day: dt.date, rows: dict[object, object]) -> object:
    return day if day in rows else day.isoformat()


def test_a_refused_row_fails_only_its_user_after_bisection(db_engine: sa.Engine) -> None:
    rows = {uid: _metric_row(uid) for uid in range(1, 9)}
    rows[6]["users_with_usage"] = None  # NOT NULL violation for "user" 6 only

    def writer(conn: sa.Connection, ids: list[int]) -> int:
        return len(bulk.upsert(conn, "coach_usage_daily", [rows[i] for i in ids], ("usage_date",)))

    outcome = isolated_writes.write_isolated(db_engine, list(rows), writer)
    # The driver names the refusal: psycopg's NotNullViolation, sqlite3's IntegrityError.
    code = "NotNullViolation" if db_engine.dialect.name == "postgresql" else "IntegrityError"
    assert outcome.failed == {6: f"write_rejected:{code}"}
    message = outcome.errors[6].message
    assert "users_with_usage" in message and "null" in message.lower()
    assert sorted(outcome.committed) == [1, 2, 3, 4, 5, 7, 8]
    assert sum(outcome.returned) == 7
    # 8 users, one refused: the whole batch, its four quarters, then users 5 and 6 alone.
    assert (outcome.batches, outcome.bisections) == (7, 2)
    with db_engine.connect() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM coach_usage_daily")).scalar_one() == 7


def test_transient_errors_are_not_bisected(postgres_engine: sa.Engine) -> None:
    calls: list[int] = []

    def writer(conn: sa.Connection, ids: list[int]) -> None:
        calls.append(len(ids))
        raise sa.exc.OperationalError(
            "SELECT 1", {}, Exception("server closed the connection unexpectedly")
        )

    with pytest.raises(sa.exc.OperationalError):
        isolated_writes.write_isolated(postgres_engine, [1, 2, 3], writer)
    assert calls == [3]  # re-raised for the retry policy, not bisected


def test_transient_classification() -> None:
    import sqlite3

    locked = sa.exc.OperationalError("x", {}, sqlite3.OperationalError("database is locked"))
    missing = sa.exc.OperationalError("x", {}, sqlite3.OperationalError("no such table: users"))
    assert isolated_writes.is_transient(locked)
    assert not isolated_writes.is_transient(missing)
    assert not isolated_writes.is_transient(sa.exc.IntegrityError("x", {}, Exception("dup")))


def test_partition_lock_serialises_runs(db_engine: sa.Engine) -> None:
    events: list[str] = []

    def hold(name: str, seconds: float) -> None:
        with partition_lock(db_engine, "user_behavior_metrics:2026-11-28"):
            events.append(f"{name}-in")
            time.sleep(seconds)
            events.append(f"{name}-out")

    first = threading.Thread(target=hold, args=("a", 0.4))
    first.start()
    time.sleep(0.1)
    second = threading.Thread(target=hold, args=("b", 0.0))
    second.start()
    first.join()
    second.join()
    assert events == ["a-in", "a-out", "b-in", "b-out"]
    # Other partitions are not blocked.
    with partition_lock(db_engine, "a"), partition_lock(db_engine, "b"):
        pass
