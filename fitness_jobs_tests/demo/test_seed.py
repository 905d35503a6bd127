"""Tests of streaming seeding (``seed_demo``) and of the two write paths under it.

Every database test runs on SQLite and PostgreSQL (``db_engine``).  The configs span
several generation blocks (``BLOCK_USERS`` users each) plus the bad-row block, so ids,
foreign keys and determinism are checked across block and transaction boundaries.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from fitness_jobs.db import bulk
from fitness_jobs.db.schema import APP_TABLES, Base
from fitness_jobs.demo import config as demo_config
from fitness_jobs.demo import seed as seed_module
from fitness_jobs.demo.columns import table_columns
from fitness_jobs.demo.generator import (
    BAD_ROW_KINDS,
    BLOCK_USERS,
    DemoConfig,
    generate_demo,
    seed_demo,
    write_demo,
)
from fitness_jobs.demo.pg_copy import copy_columns
from fitness_jobs.demo.write import WRITE_ORDER, write_frame

TODAY = dt.date(2026, 3, 31)
# two generation blocks (the second one short) and the bad-row block
CONFIG = DemoConfig(users=BLOCK_USERS + 50, seed=3, days=7, today=TODAY, with_bad_rows=True)
KEYS = {
    "users": "id",
    "workouts": "id",
    "workout_sets": "id",
    "body_weight_logs": "id",
    "llm_usage_daily": "user_id, usage_date",
}
Dump = dict[str, list[tuple[Any, ...]]]


def _value(v: Any) -> Any:
    return "NaN" if isinstance(v, float) and math.isnan(v) else v  # NaN != NaN


def dump(engine: sa.Engine) -> Dump:
    """Every app table's rows in key order, as the driver returns them."""
    with engine.connect() as conn:
        return {
            name: [
                tuple(_value(v) for v in row)
                for row in conn.exec_driver_sql(f'SELECT * FROM "{name}" ORDER BY {KEYS[name]}')
            ]
            for name in APP_TABLES
        }


def reset(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            names = ", ".join(f'"{n}"' for n in WRITE_ORDER)
            conn.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
        else:
            for name in reversed(WRITE_ORDER):
                conn.exec_driver_sql(f'DELETE FROM "{name}"')


def schema_objects(conn: sa.Connection) -> set[tuple[str, str, str]]:
    """PostgreSQL: the app tables' constraints and indexes with their definitions."""
    rows = conn.exec_driver_sql(
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid::regclass::text = ANY(%(t)s) "
        "UNION ALL SELECT tablename, indexname, indexdef FROM pg_indexes WHERE tablename = ANY(%(t)s)",
        {"t": list(APP_TABLES)},
    ).all()
    return {(str(a), str(b), str(c)) for a, b, c in rows}


# --------------------------------------------------------------------------- determinism


def test_generation_ignores_the_wall_clock_when_today_is_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = DemoConfig(users=150, seed=9, days=30, today=dt.date(2025, 6, 1))
    before = generate_demo(config)

    class Later(dt.datetime):
        @classmethod
        def now(cls, tz: dt.tzinfo | None = None) -> Later:
            return cls(2031, 1, 1, 12, tzinfo=tz)

    class Clock:
        datetime = Later
        date, time, UTC = dt.date, dt.time, dt.UTC

    monkeypatch.setattr(demo_config, "dt", Clock)
    after = generate_demo(config)
    for name in before:
        pd.testing.assert_frame_equal(before[name], after[name], check_exact=True)
    # and without `today` the clock is what moves the data
    moved = generate_demo(DemoConfig(users=150, seed=9, days=30))
    assert moved["workouts"]["started_at"].max() > pd.Timestamp("2030-12-01", tz="UTC")


def test_blocks_are_independent_streams() -> None:
    """A whole block's users do not depend on how many users come after them."""
    short = generate_demo(DemoConfig(users=BLOCK_USERS + 10, seed=5, days=20, today=TODAY))
    long = generate_demo(DemoConfig(users=2 * BLOCK_USERS + 10, seed=5, days=20, today=TODAY))
    last_workout = short["workouts"].loc[short["workouts"]["user_id"] <= BLOCK_USERS, "id"].max()
    first_block = {
        "users": lambda f: f["id"] <= BLOCK_USERS,
        "personas": lambda f: f["user_id"] <= BLOCK_USERS,
        "workouts": lambda f: f["user_id"] <= BLOCK_USERS,
        "body_weight_logs": lambda f: f["user_id"] <= BLOCK_USERS,
        "llm_usage_daily": lambda f: f["user_id"] <= BLOCK_USERS,
        "workout_sets": lambda f: f["workout_id"] <= last_workout,
    }
    for name, rows in first_block.items():
        a, b = short[name][rows(short[name])], long[name][rows(long[name])]
        assert len(a) > 0
        pd.testing.assert_frame_equal(a, b, check_exact=True)
    # the second block is not a copy of the first
    users = long["users"].drop(columns=["id", "email"])
    first = users.iloc[:BLOCK_USERS].reset_index(drop=True)
    second = users.iloc[BLOCK_USERS : 2 * BLOCK_USERS].reset_index(drop=True)
    assert not first.equals(second)


def test_seed_is_deterministic_and_matches_generate_plus_write(db_engine: sa.Engine) -> None:
    """Same config → same tables; block size, bulk load and the frames path agree."""
    seed_demo(db_engine, CONFIG)
    first = dump(db_engine)
    reset(db_engine)
    seed_demo(db_engine, CONFIG)
    assert dump(db_engine) == first
    reset(db_engine)
    seed_demo(db_engine, CONFIG, block_users=BLOCK_USERS, bulk_load=False)
    assert dump(db_engine) == first
    reset(db_engine)
    write_demo(db_engine, generate_demo(CONFIG), chunk_rows=7_000)
    assert dump(db_engine) == first

    assert len(first["users"]) == CONFIG.users + len(BAD_ROW_KINDS)
    other = DemoConfig(users=CONFIG.users, seed=4, days=CONFIG.days, today=TODAY)
    reset(db_engine)
    seed_demo(db_engine, other)
    assert dump(db_engine)["workouts"] != first["workouts"]


# --------------------------------------------------------------------------- ids, keys


def test_seed_ids_are_contiguous_and_foreign_keys_hold(db_engine: sa.Engine) -> None:
    postgres = db_engine.dialect.name == "postgresql"
    if postgres:
        with db_engine.connect() as conn:
            objects_before = schema_objects(conn)
    config = DemoConfig(
        users=BLOCK_USERS + 30, seed=8, days=12, today=TODAY, with_bad_rows=True, first_user_id=501
    )
    calls: list[tuple[str, int, int]] = []
    counts = seed_demo(db_engine, config, progress=lambda *a: calls.append(a), block_users=1)

    n_users = config.users + len(BAD_ROW_KINDS)
    with db_engine.connect() as conn:

        def scalar(sql: str) -> Any:
            return conn.exec_driver_sql(sql).scalar_one()

        for name in APP_TABLES:
            assert scalar(f'SELECT count(*) FROM "{name}"') == counts[name], name
        assert counts["users"] == n_users
        ids = [r[0] for r in conn.exec_driver_sql("SELECT id FROM users ORDER BY id")]
        assert ids == list(range(501, 501 + n_users))
        for name in ("workouts", "workout_sets", "body_weight_logs"):
            lo, hi, n = conn.exec_driver_sql(f"SELECT min(id), max(id), count(*) FROM {name}").one()
            # SQLite cannot hold the NaN weight of one set and one weigh-in (bad rows)
            skipped = 0 if postgres or name == "workouts" else 1
            assert (lo, hi) == (1, n + skipped) and n > 1000, name
        orphans = {
            "workouts": "SELECT count(*) FROM workouts w LEFT JOIN users u ON u.id = w.user_id "
            "WHERE u.id IS NULL",
            "workout_sets": "SELECT count(*) FROM workout_sets s "
            "LEFT JOIN workouts w ON w.id = s.workout_id WHERE w.id IS NULL",
            "body_weight_logs": "SELECT count(*) FROM body_weight_logs b "
            "LEFT JOIN users u ON u.id = b.user_id WHERE u.id IS NULL",
            "llm_usage_daily": "SELECT count(*) FROM llm_usage_daily l "
            "LEFT JOIN users u ON u.id = l.user_id WHERE u.id IS NULL",
        }
        for name, sql in orphans.items():
            assert scalar(sql) == 0, name
        # the bad-row users and their rows come last
        bad_first = 501 + config.users
        assert (
            scalar(f"SELECT min(user_id) FROM workouts WHERE user_id >= {bad_first}") == bad_first
        )
        last_good = scalar(f"SELECT max(id) FROM workouts WHERE user_id < {bad_first}")
        assert scalar(f"SELECT min(id) FROM workouts WHERE user_id >= {bad_first}") == last_good + 1
        if postgres:
            assert schema_objects(conn) == objects_before  # rebuilt exactly

    # progress: users after every block, ending at the total
    done = [d for stage, d, total in calls if stage == "users"]
    assert done == sorted(done) and done[-1] == n_users and len(done) == 3
    assert all(total == n_users for stage, _, total in calls if stage == "users")
    rebuilt = [(d, total) for stage, d, total in calls if stage == "indexes"]
    if postgres:
        assert rebuilt and rebuilt[-1][0] == rebuilt[-1][1] == len(rebuilt)
    else:
        assert rebuilt == []

    # the app can go on inserting; seeding the same ids again is refused
    users = Base.metadata.tables["users"]
    with db_engine.begin() as conn:
        new_id = conn.execute(
            sa.insert(users)
            .values(email="late@example.com", plan="free", created_at=dt.datetime.now(dt.UTC))
            .returning(users.c.id)
        ).scalar_one()
    assert new_id == 501 + n_users
    with pytest.raises(ValueError, match="already has rows"):
        seed_demo(db_engine, config)


def test_failed_seed_on_postgres_leaves_nothing(
    postgres_engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bulk load is one transaction: a failure mid-way rolls back rows and DDL."""
    with postgres_engine.connect() as conn:
        objects_before = schema_objects(conn)
    real = seed_module.iter_blocks

    def failing(*args: Any) -> Iterator[dict[str, pd.DataFrame]]:
        blocks = real(*args)
        yield next(blocks)
        raise RuntimeError("generator broke")

    monkeypatch.setattr(seed_module, "iter_blocks", failing)
    with pytest.raises(RuntimeError, match="generator broke"):
        seed_demo(postgres_engine, CONFIG)
    with postgres_engine.connect() as conn:
        assert schema_objects(conn) == objects_before
        for name in APP_TABLES:
            assert conn.exec_driver_sql(f'SELECT count(*) FROM "{name}"').scalar_one() == 0


def test_seed_validates_its_arguments(sqlite_engine: sa.Engine) -> None:
    with pytest.raises(ValueError, match="block_users"):
        seed_demo(sqlite_engine, CONFIG, block_users=0)
    with pytest.raises(ValueError, match="users"):
        seed_demo(sqlite_engine, DemoConfig(users=-1))
    assert seed_demo(sqlite_engine, DemoConfig(users=0, today=TODAY)) == dict.fromkeys(
        WRITE_ORDER, 0
    )


# --------------------------------------------------------------------------- write paths


@pytest.fixture(scope="module")
def small() -> dict[str, pd.DataFrame]:
    return generate_demo(DemoConfig(users=40, seed=2, days=30, today=TODAY, with_bad_rows=True))


def test_binary_copy_matches_psycopg_write_row(
    postgres_engine: sa.Engine, small: dict[str, pd.DataFrame]
) -> None:
    """The numpy encoder stores what psycopg's typed ``write_row`` stores (NaN, ±inf, NULL)."""
    with postgres_engine.begin() as conn:
        for name in WRITE_ORDER:
            copy_columns(conn, name, table_columns(small[name], name))
    ours = dump(postgres_engine)
    reset(postgres_engine)

    with postgres_engine.begin() as conn:
        raw: Any = conn.connection.driver_connection
        for name in WRITE_ORDER:
            cols = table_columns(small[name], name)
            nullable = [_nullable(c.name, name) for c in cols]
            quoted = ", ".join(c.name for c in cols)
            statement = f"COPY {name} ({quoted}) FROM STDIN (FORMAT BINARY)"
            with raw.cursor() as cur, cur.copy(statement) as copy:
                copy.set_types([c.kind for c in cols])
                for row in small[name][[c.name for c in cols]].itertuples(index=False, name=None):
                    copy.write_row([_py(v, n) for v, n in zip(row, nullable, strict=True)])
    assert dump(postgres_engine) == ours
    assert any(v == "NaN" for row in ours["workout_sets"] for v in row)
    assert any(v == math.inf for row in ours["body_weight_logs"] for v in row)


def _nullable(column: str, table: str) -> bool:
    return bool(Base.metadata.tables[table].c[column].nullable)


def _py(value: Any, nullable: bool) -> Any:
    """A frame cell as a plain Python value for ``write_row`` (NaN stays in NOT NULL floats)."""
    if value is None or value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None if nullable else value
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    return value


def test_sqlite_rows_match_db_bulk_insert(
    sqlite_engine: sa.Engine, small: dict[str, pd.DataFrame]
) -> None:
    """The vectorised SQLite values are what ``db.bulk.insert`` stores value by value."""
    frames = {name: small[name] for name in WRITE_ORDER}
    with sqlite_engine.begin() as conn:
        for name in WRITE_ORDER:
            write_frame(conn, name, frames[name])
    ours = dump(sqlite_engine)
    reset(sqlite_engine)
    with sqlite_engine.begin() as conn:
        for name in WRITE_ORDER:
            frame = frames[name]
            keep = np.ones(len(frame), dtype=bool)
            for col in Base.metadata.tables[name].columns:  # SQLite cannot hold these
                if not col.nullable and pd.api.types.is_float_dtype(frame[col.name].dtype):
                    keep &= ~np.isnan(frame[col.name].to_numpy(dtype=float))
            bulk.insert(conn, name, bulk.records_from_frame(frame[keep]))
    assert dump(sqlite_engine) == ours
    assert len(ours["workout_sets"]) == len(small["workout_sets"]) - 1  # the NaN weight


def test_copy_errors_surface_as_sqlalchemy_errors(postgres_engine: sa.Engine) -> None:
    frame = generate_demo(DemoConfig(users=3, seed=1, days=20, today=TODAY))["workouts"]
    with pytest.raises(sa.exc.IntegrityError), postgres_engine.begin() as conn:
        copy_columns(conn, "workouts", table_columns(frame, "workouts"))  # no such users


@pytest.mark.parametrize("bulk_load", [True, False])
def test_seed_on_postgres_analyzes_what_it_loaded(
    postgres_engine: sa.Engine, bulk_load: bool
) -> None:
    """The planner has statistics for the new rows before the first job reads them."""
    query = sa.text(
        "SELECT relname, coalesce(extract(epoch FROM last_analyze), 0) FROM pg_stat_user_tables "
        "WHERE relname = ANY(:tables)"
    )
    with postgres_engine.connect() as conn:
        before = dict(conn.execute(query, {"tables": list(WRITE_ORDER)}).all())
    seed_demo(postgres_engine, CONFIG, bulk_load=bulk_load)
    with postgres_engine.connect() as conn:
        after = dict(conn.execute(query, {"tables": list(WRITE_ORDER)}).all())
        workouts = conn.exec_driver_sql(
            "SELECT count(*) FROM pg_stats WHERE tablename = 'workouts'"
        ).scalar_one()
    assert sorted(after) == sorted(WRITE_ORDER)
    assert all(after[name] > before[name] for name in WRITE_ORDER), (before, after)
    assert workouts > 0
