"""The job's role lacks INSERT on its table: the run ends in bounded time, the command line
shows the database's own message on stderr, and exits 1 (the run failed, not retried)."""

from __future__ import annotations

import time
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from psycopg import sql

from fitness_jobs.cli import main
from fitness_jobs_tests.faults.conftest import AppRole, D, conninfo, population

USERS = 48
DATABASE_MESSAGE = "permission denied for table user_behavior_metrics"


def test_a_revoked_insert_fails_fast_with_the_database_message(
    postgres_engine: sa.Engine,
    app_role: AppRole,
    dagster_home: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    population(USERS).write(postgres_engine)
    with psycopg.connect(conninfo(postgres_engine), autocommit=True) as admin:
        admin.execute(
            sql.SQL("REVOKE INSERT ON user_behavior_metrics FROM {}").format(
                sql.Identifier(app_role.name)
            )
        )
    monkeypatch.setenv("FITNESS_DATABASE_URL", app_role.url)
    capfd.readouterr()

    started = time.monotonic()
    code = main(["nightly", "--partition", D.isoformat()])
    elapsed = time.monotonic() - started

    out, err = capfd.readouterr()
    assert code == 1
    assert elapsed < 30, f"took {elapsed:.1f}s"
    # The database's words, with the systematic-failure summary, on stderr (Dagster's log).
    assert (
        f"writing failed the same way for all {USERS} users of a batch "
        f"(write_rejected:InsufficientPrivilege): {DATABASE_MESSAGE}"
    ) in err
    assert "STEP_UP_FOR_RETRY" not in err and "requested a retry" not in err
    assert f"FAILED: writing failed the same way for all {USERS} users" in out
    with postgres_engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM user_behavior_metrics").scalar() == 0
        # The other asset of the run (its role may insert there) still wrote its row.
        assert conn.exec_driver_sql("SELECT count(*) FROM coach_usage_daily").scalar() == 1
