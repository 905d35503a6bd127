"""``deploy/app_role.sql``: both jobs run as the least-privilege role, which cannot delete,
truncate or create, and whose sessions carry the three timeouts."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from psycopg import errors

from fitness_jobs.cli import main
from fitness_jobs.db.engine import make_engine
from fitness_jobs.pipelines.nightly import run_nightly
from fitness_jobs.pipelines.weekly import run_weekly
from fitness_jobs_tests.faults.conftest import (
    APP_ROLE_SQL,
    AppRole,
    D,
    W,
    apply_app_role,
    conninfo,
    population,
)

USERS = 24


def _connect_as(role: AppRole, engine: sa.Engine) -> psycopg.Connection:
    url = engine.url
    return psycopg.connect(
        host=url.host,
        port=url.port,
        dbname=url.database,
        user=role.name,
        password=role.password,
        autocommit=True,
    )


def _count(engine: sa.Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.exec_driver_sql(f'SELECT count(*) FROM "{table}"').scalar_one())


def test_both_jobs_run_as_the_role_and_nothing_more(
    postgres_engine: sa.Engine,
    app_role: AppRole,
    dagster_home: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    population(USERS).write(postgres_engine)  # seeded as the superuser
    apply_app_role(postgres_engine, app_role.name, app_role.password)  # idempotent: again
    monkeypatch.setenv("FITNESS_DATABASE_URL", app_role.url)

    assert main(["nightly", "--partition", D.isoformat(), "--quiet"]) == 0
    assert main(["weekly", "--week", W.isoformat(), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert f"active users {USERS} · written {USERS} · changed {USERS} · failed 0" in out
    assert f"due {USERS} · written {USERS} · already had one 0 · failed 0" in out

    assert _count(postgres_engine, "user_behavior_metrics") == USERS
    assert _count(postgres_engine, "coach_usage_daily") == 1
    assert _count(postgres_engine, "weekly_reports") == USERS
    assert _count(postgres_engine, "transformation_predictions") == USERS
    # The weekly kept its users' personal bests as the role (those who trained near W).
    assert 0 < _count(postgres_engine, "personal_best_marks") <= USERS

    # Re-runs as the role change nothing and claim nothing.
    engine = make_engine(app_role.url)
    try:
        nightly = run_nightly(engine, D)
        assert (nightly.committed, nightly.changed, len(nightly.errors)) == (USERS, 0, 0)
        weekly = run_weekly(engine, mode="catch_up", week=W)
        assert (weekly.written, weekly.already_reported, len(weekly.errors)) == (0, USERS, 0)
    finally:
        engine.dispose()

    with _connect_as(app_role, postgres_engine) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (app_role.name,)
        # The database itself refuses anything beyond the jobs' needs.
        refused = {
            "DELETE FROM user_behavior_metrics": errors.InsufficientPrivilege,
            "DELETE FROM weekly_reports": errors.InsufficientPrivilege,
            "DELETE FROM users": errors.InsufficientPrivilege,
            "TRUNCATE weekly_reports": errors.InsufficientPrivilege,
            "TRUNCATE transformation_predictions": errors.InsufficientPrivilege,
            "TRUNCATE users": errors.InsufficientPrivilege,
            "DELETE FROM personal_bests": errors.InsufficientPrivilege,
            "TRUNCATE personal_best_marks": errors.InsufficientPrivilege,
            "UPDATE users SET plan = 'pro'": errors.InsufficientPrivilege,
            "INSERT INTO workouts (id, user_id, status, started_at) VALUES (1, 1, 'x', now())": (
                errors.InsufficientPrivilege
            ),
            "CREATE TABLE public.fj_probe (i int)": errors.InsufficientPrivilege,
            "CREATE TABLE fj_probe (i int)": errors.InsufficientPrivilege,
            "ALTER TABLE weekly_reports ADD COLUMN fj_probe int": errors.InsufficientPrivilege,
            "DROP TABLE weekly_reports": errors.InsufficientPrivilege,
            "CREATE SCHEMA fj_probe": errors.InsufficientPrivilege,
        }
        for statement, error in refused.items():
            with pytest.raises(error):
                conn.execute(statement)
        # What the bulk upsert needs still works: a session-private staging table.
        conn.execute(
            "CREATE TEMP TABLE fj_stage (LIKE user_behavior_metrics INCLUDING DEFAULTS) "
            "ON COMMIT DELETE ROWS"
        )
        conn.execute("TRUNCATE fj_stage")
        # The role's session limits (ALTER ROLE … SET), as the jobs' sessions see them.
        shown = {
            name: conn.execute(f"SHOW {name}").fetchone()
            for name in ("statement_timeout", "lock_timeout", "idle_in_transaction_session_timeout")
        }
    assert shown == {
        "statement_timeout": ("10min",),
        "lock_timeout": ("30s",),
        "idle_in_transaction_session_timeout": ("5min",),
    }
    assert _count(postgres_engine, "users") == USERS
    assert _count(postgres_engine, "user_behavior_metrics") == USERS
    with postgres_engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT to_regclass('public.fj_probe')").scalar() is None


def test_the_script_refuses_a_role_that_would_get_more(
    postgres_engine: sa.Engine, app_role: AppRole
) -> None:
    """A DELETE granted to PUBLIC (or a role the app role belongs to) is not something a
    REVOKE on the role can undo: the script's last check rolls the whole script back."""
    with psycopg.connect(conninfo(postgres_engine), autocommit=True) as admin:
        admin.execute("GRANT DELETE ON weekly_reports TO PUBLIC")
        try:
            with pytest.raises(errors.RaiseException) as caught:
                apply_app_role(postgres_engine, app_role.name, "another password")
        finally:
            admin.execute("REVOKE DELETE ON weekly_reports FROM PUBLIC")
    assert str(caught.value).splitlines()[0] == (
        f"role {app_role.name} would have more than the jobs need: "
        "DELETE or TRUNCATE on weekly_reports"
    )


def test_the_script_is_plain_psql() -> None:
    """Variables only through psql (``:'role'``, ``:"role"``, ``:'password'``); the password
    never appears in the file."""
    text = APP_ROLE_SQL.read_text()
    assert ":'password'" in text and ':"role"' in text and ":'role'" in text
    assert "\\getenv password FITNESS_APP_DB_PASSWORD" in text
    assert "BEGIN;" in text and text.rstrip().endswith("COMMIT;")
