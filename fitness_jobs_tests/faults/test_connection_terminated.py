"""The app-database connection is terminated mid-write: the Dagster step is retried (a
transient error), and the final rows are those of a clean run."""

from __future__ import annotations

import sqlalchemy as sa

from fitness_jobs.pipelines.nightly import run_nightly
from fitness_jobs_tests.faults.conftest import (
    D,
    conninfo,
    population,
    run_child,
    table_rows,
    url_of,
)

USERS = 30
CHUNK = 10  # three chunks: the first commits, the second loses its connection


def test_a_terminated_connection_is_retried_and_the_rows_equal_a_clean_run(
    postgres_engine: sa.Engine,
) -> None:
    population(USERS).write(postgres_engine)
    child = run_child(
        "terminate",
        url_of(postgres_engine),
        conninfo(postgres_engine),
        D.isoformat(),
        str(CHUNK),
        env={"FITNESS_RETRY_DELAY_SECONDS": "0.2"},
    )
    assert child.returncode == 0, child.stderr[-3000:]
    summary = child.summary
    assert summary is not None
    assert summary["retry_delay"] == 0.2  # read from the environment at import
    # Attempt 1: chunk 1 written, chunk 2's connection terminated → up for retry.
    # Attempt 2: all three chunks again (chunk 1 unchanged); nothing fails.
    assert summary["upsert_calls"] == [CHUNK, CHUNK, CHUNK, CHUNK, CHUNK]
    events = summary["events"]
    assert events.count("STEP_START") == 1
    assert events.count("STEP_UP_FOR_RETRY") == 1
    assert events.count("STEP_RESTARTED") == 1
    assert events.count("STEP_FAILURE") == 0
    assert events[-1] == "STEP_SUCCESS"
    (retry_error,) = summary["retry_errors"]  # the error that was retried
    assert "psycopg.errors.AdminShutdown" in retry_error
    assert "terminating connection due to administrator command" in retry_error
    assert summary["success"] is True
    assert summary["written_users"] == USERS and summary["failed_users"] == 0

    after_fault = table_rows(postgres_engine, "user_behavior_metrics", without=("computed_at",))
    with postgres_engine.begin() as conn:
        conn.exec_driver_sql("TRUNCATE user_behavior_metrics")
    clean = run_nightly(postgres_engine, D, chunk_size=CHUNK)
    assert clean.committed == USERS and not clean.errors
    expected = table_rows(postgres_engine, "user_behavior_metrics", without=("computed_at",))
    assert len(expected) == USERS
    assert after_fault == expected
