"""The nightly asset fanned out over a multiprocess executor (PostgreSQL): one step per
part of the users, each in its own process with its own isolation; the summary and the
blocking check cover the whole partition; a failed part re-executes from failure alone."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator

import dagster as dg
import pytest
import sqlalchemy as sa

from fitness_jobs.db.locks import partition_lock
from fitness_jobs.pipelines.nightly import run_nightly
from fitness_jobs_tests.factories import user, workout, write
from fitness_jobs_tests.faults.conftest import D, population, table_rows, url_of

USERS = 40
BAD_USER = 1_000  # an invalid time zone: fails alone, in the second part
PARTS = [f"user_behavior_metrics.nightly_part[part_{i}_of_2]" for i in (1, 2)]
SUMMARY = "user_behavior_metrics.nightly_summary"


def nightly_metrics_job() -> dg.JobDefinition:
    """The job as a step process rebuilds it (the environment chooses the executor)."""
    from fitness_jobs.definitions import build_definitions

    return build_definitions().resolve_job_def("nightly_metrics_job")


@pytest.fixture
def instance(
    postgres_engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dg.DagsterInstance]:
    monkeypatch.setenv("FITNESS_DATABASE_URL", url_of(postgres_engine))
    monkeypatch.setenv("FITNESS_EXECUTOR", "multiprocess")
    monkeypatch.setenv("FITNESS_MAX_WORKERS", "2")
    # Step processes fork from a server started with this process's first multiprocess run
    # (the forkserver start method): they see the environment as it was then, so every
    # setting these tests need is set here, for both.
    monkeypatch.setenv("FITNESS_LOCK_TIMEOUT_SECONDS", "1")
    # The executor is chosen when the code location is imported (as a code server or run
    # worker does, once): import it afresh under this environment, then restore it.
    for name in [
        m for m in sys.modules if m.startswith(("fitness_jobs.defs", "fitness_jobs.definitions"))
    ]:
        monkeypatch.delitem(sys.modules, name)
    with dg.instance_for_test() as instance:
        yield instance


def _execute(instance: dg.DagsterInstance, **options: object) -> dg.ExecutionResult:
    return dg.execute_job(
        dg.reconstructable(nightly_metrics_job),
        instance=instance,
        tags={"dagster/partition": D.isoformat()},
        raise_on_error=False,
        **options,  # type: ignore[arg-type]
    )


def _started(result: dg.ExecutionResult) -> dict[str, int]:
    """Step key → pid of the process that ran it."""
    return {
        e.step_key: e.pid
        for e in result.all_events
        if e.event_type_value == "STEP_START" and e.step_key and e.pid
    }


def _metadata(result: dg.ExecutionResult) -> dict[str, object]:
    (mat,) = result.asset_materializations_for_node("user_behavior_metrics")
    return {k: v.value for k, v in mat.metadata.items()}


def test_two_worker_processes_write_the_rows_of_one_and_the_check_covers_both(
    postgres_engine: sa.Engine, instance: dg.DagsterInstance
) -> None:
    population(USERS).write(postgres_engine)
    write(
        postgres_engine,
        users=[user(BAD_USER, timezone="Mars/Olympus_Mons")],
        workouts=[workout(BAD_USER, "2026-11-27 09:00", id=BAD_USER * 100)],
    )

    result = _execute(instance)

    assert not result.success  # the blocking check: one user failed
    started = _started(result)
    assert set(PARTS) <= set(started) and SUMMARY in started
    assert started[PARTS[0]] != started[PARTS[1]]  # two processes
    md = _metadata(result)
    assert md["active_users"] == USERS + 1
    assert md["written_users"] == USERS
    assert md["failed_users"] == 1
    assert md["failed_user_ids"] == [{"user_id": BAD_USER, "error": "invalid_timezone"}]
    assert md["chunks"] == 2  # one per part (chunk size 5,000)
    (check,) = result.get_asset_check_evaluations()
    assert check.check_name == "no_failed_users" and not check.passed
    assert check.metadata["failed_users"].value == 1

    fanned_out = table_rows(postgres_engine, "user_behavior_metrics", without=("computed_at",))
    with postgres_engine.begin() as conn:
        conn.exec_driver_sql("TRUNCATE user_behavior_metrics")
    one = run_nightly(postgres_engine, D)
    assert one.failed == {BAD_USER: "invalid_timezone"} and one.written == USERS
    assert fanned_out == table_rows(
        postgres_engine, "user_behavior_metrics", without=("computed_at",)
    )


def test_a_failed_part_re_executes_from_failure_alone(
    postgres_engine: sa.Engine, instance: dg.DagsterInstance
) -> None:
    population(USERS).write(postgres_engine)
    held, release = threading.Event(), threading.Event()

    def another_run_holds_part_2() -> None:
        with partition_lock(postgres_engine, f"user_behavior_metrics:{D}:2/2", timeout_s=5):
            held.set()
            release.wait(60)

    thread = threading.Thread(target=another_run_holds_part_2)
    thread.start()
    held.wait(5)
    try:
        first = _execute(instance)
    finally:
        release.set()
        thread.join()

    assert not first.success
    failed = {e.step_key for e in first.all_events if e.is_step_failure}
    assert failed == {PARTS[1]}  # the lock wait is not retried
    assert PARTS[0] in _started(first) and SUMMARY not in _started(first)
    assert first.asset_materializations_for_node("user_behavior_metrics") == []
    with postgres_engine.connect() as conn:
        half = conn.exec_driver_sql("SELECT count(*) FROM user_behavior_metrics").scalar_one()
    assert half == USERS // 2  # part 1 committed its users

    again = _execute(
        instance, reexecution_options=dg.ReexecutionOptions.from_failure(first.run_id, instance)
    )

    assert again.success
    started = set(_started(again))
    assert PARTS[1] in started and SUMMARY in started
    assert PARTS[0] not in started and "user_behavior_metrics.nightly_plan" not in started
    md = _metadata(again)  # the whole partition: part 1's report is read from the first run
    assert md["active_users"] == md["written_users"] == USERS
    assert md["failed_users"] == 0
    # Each part's report counts the rows it changed: part 1's in the first run.
    assert md["rows_changed"] == USERS


def test_step_processes_find_the_heavy_imports_done() -> None:
    """The fork server imports ``PRELOADED_MODULES``; a step process then builds the
    definitions without importing pandas, numpy, SQLAlchemy, psycopg or scipy again
    (each was seconds of a step's start).  In a fresh interpreter, as the server is."""
    import subprocess

    code = """
import importlib, sys
from fitness_jobs.defs.executors import PRELOADED_MODULES
for name in PRELOADED_MODULES:
    importlib.import_module(name)
before = set(sys.modules)
from fitness_jobs.definitions import build_definitions
build_definitions()
heavy = ("pandas", "numpy", "sqlalchemy", "psycopg", "scipy")
print(sorted({m.split(".")[0] for m in set(sys.modules) - before} & set(heavy)))
print(all(h in before for h in heavy))
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.split() == ["[]", "True"]
