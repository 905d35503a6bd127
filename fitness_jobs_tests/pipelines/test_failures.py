"""Failures a person can act on: messages kept, systematic failures fast, retries only
for what can pass on retry, a bounded wait for another run's lock."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from typing import Any

import dagster as dg
import pandas as pd
import psycopg
import pytest
import sqlalchemy as sa

from fitness_jobs.core.isolation import SystematicFailure
from fitness_jobs.db import isolated_writes
from fitness_jobs.db.engine import make_engine
from fitness_jobs.db.locks import LockTimeout, partition_lock
from fitness_jobs.defs.nightly.assets import coach_usage_daily, user_behavior_metrics
from fitness_jobs.defs.resources import AppDatabase
from fitness_jobs.pipelines import nightly_chunk
from fitness_jobs.pipelines.nightly import run_nightly
from fitness_jobs_tests.factories import ts, user, workout, write

D = dt.date(2026, 11, 28)
NOW = ts("2026-11-29 02:00")


def _population(engine: sa.Engine, n: int = 12) -> None:
    write(
        engine,
        users=[user(i) for i in range(1, n + 1)],
        workouts=[workout(i, "2026-11-27 10:00") for i in range(1, n + 1)],
    )


def _materialize(
    engine: sa.Engine, instance: dg.DagsterInstance | None = None
) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [user_behavior_metrics, coach_usage_daily],
        partition_key=D.isoformat(),
        resources={"app_db": AppDatabase(url=engine.url.render_as_string(hide_password=False))},
        instance=instance or dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


# A single-partition run in-process has one part: the step that reads, computes and writes.
PART_STEP = "user_behavior_metrics.nightly_part[part_1_of_1]"


def _step_events(result: dg.ExecuteInProcessResult, step: str) -> list[str]:
    return [e.event_type_value for e in result.all_events if e.step_key == step]


def test_a_failed_user_keeps_its_message_logged_once_with_a_traceback(
    db_engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    _population(db_engine)
    real = nightly_chunk.compute_behavior_metrics

    def flaky(users: pd.DataFrame, workouts: Any, sets: Any, **options: Any) -> pd.DataFrame:
        if {5, 9} & set(users["user_id"]):
            raise RuntimeError("corrupt history for this user")
        return real(users, workouts, sets, **options)

    monkeypatch.setattr(nightly_chunk, "compute_behavior_metrics", flaky)
    instance = dg.DagsterInstance.ephemeral()
    result = _materialize(db_engine, instance)
    assert not result.success  # the blocking check fails the run
    (mat,) = result.asset_materializations_for_node("user_behavior_metrics")
    md = {k: v.value for k, v in mat.metadata.items()}
    assert md["failures"] == [
        {
            "code": "compute_error:RuntimeError",
            "message": "corrupt history for this user",
            "users": 2,
            "sample_user_ids": [5, 9],
        }
    ]
    messages = [e.user_message for e in instance.all_logs(result.run_id)]
    records = [m for m in messages if "corrupt history" in m]
    assert len(records) == 1  # each distinct failure once
    assert "2 user(s) failed with compute_error:RuntimeError" in records[0]
    assert "Traceback" in records[0] and "raise RuntimeError" in records[0]


def test_a_bug_that_fails_every_user_ends_the_run_at_once(
    db_engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    _population(db_engine, 40)
    calls: list[int] = []

    def broken(users: pd.DataFrame, workouts: Any, sets: Any, **options: Any) -> pd.DataFrame:
        calls.append(len(users))
        raise KeyError("sessions_7d")

    monkeypatch.setattr(nightly_chunk, "compute_behavior_metrics", broken)
    with pytest.raises(SystematicFailure):
        run_nightly(db_engine, D, now=NOW)
    assert calls == [40, 10, 10, 10, 10]

    result = _materialize(db_engine)
    assert not result.success
    events = _step_events(result, PART_STEP)
    assert events.count("STEP_START") == 1 and "STEP_UP_FOR_RETRY" not in events
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert failure.step_failure_data is not None
    assert failure.step_failure_data.user_failure_data is not None
    assert failure.step_failure_data.user_failure_data.description == (
        "computation failed the same way for all 40 users of a batch "
        "(compute_error:KeyError): 'sessions_7d'"
    )


@pytest.fixture
def restricted_url(postgres_engine: sa.Engine) -> Iterator[str]:
    """A login role that may read everything but not INSERT into user_behavior_metrics."""
    with postgres_engine.begin() as conn:
        conn.exec_driver_sql("DROP ROLE IF EXISTS fj_no_insert")
        conn.exec_driver_sql("CREATE ROLE fj_no_insert LOGIN")
        conn.exec_driver_sql("GRANT SELECT ON ALL TABLES IN SCHEMA public TO fj_no_insert")
        conn.exec_driver_sql(
            "GRANT INSERT, UPDATE ON coach_usage_daily, weekly_reports, "
            "transformation_predictions TO fj_no_insert"
        )
        database = conn.exec_driver_sql("SELECT current_database()").scalar_one()
        conn.exec_driver_sql(f'GRANT TEMPORARY ON DATABASE "{database}" TO fj_no_insert')
    url = postgres_engine.url.set(username="fj_no_insert", password=None)
    yield url.render_as_string(hide_password=False)
    with postgres_engine.begin() as conn:
        conn.exec_driver_sql("DROP OWNED BY fj_no_insert")
        conn.exec_driver_sql("DROP ROLE fj_no_insert")


def test_a_missing_privilege_fails_fast_quoting_the_database(
    postgres_engine: sa.Engine, restricted_url: str
) -> None:
    _population(postgres_engine, 40)
    engine = make_engine(restricted_url)
    try:
        started = time.monotonic()
        with pytest.raises(SystematicFailure) as caught:
            run_nightly(engine, D, now=NOW)
        assert time.monotonic() - started < 30
    finally:
        engine.dispose()
    assert str(caught.value) == (
        "writing failed the same way for all 40 users of a batch "
        "(write_rejected:InsufficientPrivilege): permission denied for table user_behavior_metrics"
    )


def test_transient_or_not(postgres_engine: sa.Engine) -> None:
    """Only what can pass on a retry is retried: a server closing the connection is;
    a permission error, an unknown role or a missing table is not."""
    url = postgres_engine.url
    victim = psycopg.connect(
        host=url.host, port=url.port, user=url.username, dbname=url.database, autocommit=True
    )
    pid = victim.info.backend_pid
    with postgres_engine.begin() as conn:
        conn.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": pid})
    with pytest.raises(psycopg.OperationalError) as terminated:
        victim.execute("SELECT 1")
    assert isolated_writes.is_transient(sa.exc.OperationalError("SELECT 1", {}, terminated.value))

    bad_role = make_engine(url.set(username="no_such_role").render_as_string(hide_password=False))
    with pytest.raises(sa.exc.OperationalError) as unknown_role:
        bad_role.connect()
    bad_role.dispose()
    assert not isolated_writes.is_transient(unknown_role.value)
    with pytest.raises(sa.exc.ProgrammingError) as missing, postgres_engine.connect() as conn:
        conn.exec_driver_sql("SELECT * FROM no_such_table")
    assert not isolated_writes.is_transient(missing.value)


def test_waiting_for_another_runs_lock_is_bounded_and_not_retried(
    db_engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    _population(db_engine, 2)
    monkeypatch.setenv("FITNESS_LOCK_TIMEOUT_SECONDS", "1")
    held, release = threading.Event(), threading.Event()

    def holder() -> None:
        with partition_lock(db_engine, f"user_behavior_metrics:{D.isoformat()}", timeout_s=5):
            held.set()
            release.wait(20)

    thread = threading.Thread(target=holder)
    thread.start()
    held.wait(5)
    try:
        with pytest.raises(LockTimeout) as caught:
            run_nightly(db_engine, D, now=NOW)
        assert str(caught.value).startswith(
            "another run has held the lock 'user_behavior_metrics:2026-11-28' for 1 s "
            "(FITNESS_LOCK_TIMEOUT_SECONDS)"
        )
        result = _materialize(db_engine)
        events = _step_events(result, PART_STEP)
        assert events.count("STEP_START") == 1 and "STEP_UP_FOR_RETRY" not in events
    finally:
        release.set()
        thread.join()
