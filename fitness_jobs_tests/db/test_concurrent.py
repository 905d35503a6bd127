"""Reads at the same time on connections of their own, and the date-index hint."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
import sqlalchemy as sa

from fitness_jobs.db.concurrent import contiguous_groups, read_by_groups, read_concurrently
from fitness_jobs.db.nightly import of_snapshots, through_date_index
from fitness_jobs.db.schema import UserBehaviorMetrics


def test_contiguous_groups_keep_the_order_and_split_evenly() -> None:
    assert contiguous_groups(list(range(62))) == [list(range(31)), list(range(31, 62))]
    assert contiguous_groups([1, 2, 3], 2) == [[1, 2], [3]]
    assert contiguous_groups([1, 2, 3], 5) == [[1], [2], [3]]
    assert contiguous_groups([7], 2) == [[7]]
    assert contiguous_groups([], 2) == []


def test_reads_run_at_once_on_postgres_and_give_their_results_in_order(
    db_engine: sa.Engine,
) -> None:
    postgres = db_engine.dialect.name == "postgresql"
    both_started = threading.Barrier(2, timeout=10)

    def read(value: int) -> object:
        def run(conn: sa.Connection) -> tuple[int, int]:
            if postgres:  # each waits for the other: they must be running at the same time
                both_started.wait()
            return value, id(conn.connection.dbapi_connection)

        return run

    results = read_concurrently(db_engine, [read(1), read(2)])
    assert [value for value, _conn in results] == [1, 2]
    connections = {conn for _value, conn in results}
    assert len(connections) == (2 if postgres else 1)  # SQLite: one after the other


def test_a_failed_read_is_raised_after_the_others_finish(db_engine: sa.Engine) -> None:
    """On PostgreSQL the reads already running finish; on SQLite the first error stops."""
    finished = []

    def fails(conn: sa.Connection) -> None:
        raise ValueError("bad read")

    def slow(conn: sa.Connection) -> int:
        conn.exec_driver_sql("SELECT 1")
        finished.append(True)
        return 1

    with pytest.raises(ValueError, match="bad read"):
        read_concurrently(db_engine, [fails, slow])
    assert finished == ([True] if db_engine.dialect.name == "postgresql" else [])


def test_reads_by_groups_give_one_result_per_item_in_order(db_engine: sa.Engine) -> None:
    def read(conn: sa.Connection, group: list[int]) -> list[int]:
        return [int(conn.execute(sa.select(sa.literal(x) * 10)).scalar_one()) for x in group]

    assert read_by_groups(db_engine, [1, 2, 3, 4, 5], read) == [10, 20, 30, 40, 50]
    assert read_by_groups(db_engine, [], read) == []


def test_snapshots_are_found_through_the_date_index(postgres_engine: sa.Engine) -> None:
    """Even where the planner would scan the table (statistics of an empty one here), the
    hint makes it use the date index, then gives the setting back."""
    t = UserBehaviorMetrics.__table__
    instants = [dt.datetime(2026, 11, d, tzinfo=dt.UTC) for d in (27, 28)]
    query = sa.select(t.c.user_id).where(of_snapshots(instants))
    compiled = query.compile(postgres_engine, compile_kwargs={"literal_binds": True})
    with postgres_engine.connect() as conn:
        conn.exec_driver_sql("SET LOCAL random_page_cost = 1000")  # make a scan look cheaper
        plan = "\n".join(row[0] for row in conn.exec_driver_sql(f"EXPLAIN {compiled}"))
        assert "Seq Scan" in plan
        with through_date_index(conn):
            plan = "\n".join(row[0] for row in conn.exec_driver_sql(f"EXPLAIN {compiled}"))
        assert "Seq Scan" not in plan and "ix_user_behavior_metrics_date" in plan
        assert conn.exec_driver_sql("SHOW enable_seqscan").scalar_one() == "on"
