"""``fitness-jobs db init`` and ``demo seed`` on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib

import pytest
import sqlalchemy as sa

from fitness_jobs import cli
from fitness_jobs.db.engine import create_schema
from fitness_jobs.db.schema import APP_TABLES, Base

SEED = ["demo", "seed", "--users", "25", "--days", "35", "--seed", "7", "--with-bad-rows"]


def _tables(engine: sa.Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


def test_db_init_creates_the_tables_and_is_idempotent(
    cli_env: sa.Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    Base.metadata.drop_all(cli_env)
    try:
        assert _tables(cli_env).isdisjoint(Base.metadata.tables)
        assert cli.main(["db", "init"]) == 0
        assert f"created {len(Base.metadata.tables)} table(s)" in capsys.readouterr().out
        assert _tables(cli_env) >= set(Base.metadata.tables)
        assert cli.main(["db", "init"]) == 0
        assert "schema already up to date" in capsys.readouterr().out
    finally:
        create_schema(cli_env)


def _counts(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            t: int(conn.execute(sa.text(f"SELECT COUNT(*) FROM {t}")).scalar_one())
            for t in APP_TABLES
        }


def _content_hash(engine: sa.Engine, table: str) -> str:
    with engine.connect() as conn:
        rows = conn.execute(sa.text(f"SELECT * FROM {table} ORDER BY id")).all()
    return hashlib.sha256(repr([tuple(r) for r in rows]).encode()).hexdigest()


def _wipe(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())


def test_seed_with_today_is_reproducible_whatever_the_clock(
    cli_env: sa.Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    results = []
    for today in ("2026-11-29", "2026-11-29", "2026-10-04"):
        _wipe(cli_env)
        assert cli.main([*SEED, "--today", today]) == 0
        assert "seeded in" in capsys.readouterr().out
        results.append(
            (_counts(cli_env), _content_hash(cli_env, "workouts"), _content_hash(cli_env, "users"))
        )
    first, again, other_day = results
    assert first[0]["users"] > 25  # 25 users plus one per kind of bad row
    assert first[0]["workouts"] > 0 and first[0]["workout_sets"] > 0
    assert again == first  # same flags, same database
    assert other_day[1] != first[1]  # --today moves the history


def test_seed_refuses_a_database_that_has_data(
    cli_env: sa.Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main([*SEED, "--today", "2026-11-29"]) == 0
    before = _counts(cli_env)
    capsys.readouterr()
    assert cli.main([*SEED, "--today", "2026-11-29"]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "already has" in err
    assert _counts(cli_env) == before
