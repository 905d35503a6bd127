"""The server restarts between two runs (``pg_ctl restart -m fast`` on a throw-away
cluster): the next run, with the same engine and the same resource object, succeeds with
no manual step (the engine's pool pre-ping replaces the dead connections)."""

from __future__ import annotations

from fitness_jobs.defs.resources import AppDatabase
from fitness_jobs.pipelines.nightly import run_nightly
from fitness_jobs.pipelines.weekly import run_weekly
from fitness_jobs_tests.faults.conftest import D, ScratchCluster, W, population, table_rows

USERS = 12


def _backend_pids(resource: AppDatabase) -> set[int]:
    with resource.engine().connect() as conn:
        return {int(p) for (p,) in conn.exec_driver_sql("SELECT pg_backend_pid()")}


def test_the_next_run_after_a_restart_needs_no_manual_step(
    scratch_cluster: ScratchCluster,
) -> None:
    resource = AppDatabase(url=scratch_cluster.url)
    engine = resource.engine()
    population(USERS).write(engine)

    first = run_nightly(engine, D)
    assert (first.committed, first.changed, len(first.errors)) == (USERS, USERS, 0)
    rows = table_rows(engine, "user_behavior_metrics")
    before = _backend_pids(resource)
    assert engine.pool.checkedin() >= 1  # pooled connections that the restart will kill

    scratch_cluster.restart()

    assert resource.engine() is engine  # the same resource, the same engine and pool
    again = run_nightly(engine, D)
    assert (again.committed, again.changed, len(again.errors)) == (USERS, 0, 0)
    assert table_rows(engine, "user_behavior_metrics") == rows  # unchanged, computed_at too
    assert _backend_pids(resource).isdisjoint(before)  # new sessions after the restart

    scratch_cluster.restart()
    weekly = run_weekly(engine, mode="catch_up", week=W)
    assert (weekly.written, len(weekly.errors)) == (USERS, 0)
    engine.dispose()
