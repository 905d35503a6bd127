"""Processes the fault tests start: ``python -m fitness_jobs_tests.faults.children CMD …``.

Each prints one JSON line as its last line of stdout (the parent reads it).

``terminate URL ADMIN_CONNINFO PARTITION CHUNK``
    Materialise ``user_behavior_metrics`` for PARTITION through Dagster (retry policy and
    all; ``FITNESS_RETRY_DELAY_SECONDS`` is read when this fresh process imports the
    definitions).  On the second chunk's upsert, the run's own database connection is
    terminated from another connection (``pg_terminate_backend``), then the write goes
    on and meets the dead connection.

``kill-after-claim URL WEEK CHUNK KILL_ON``
    A weekly catch-up of WEEK that dies (``os._exit(9)``) right after the KILL_ON-th
    report insert (the claim), before the predictions are written and the transaction
    commits.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

import psycopg
import sqlalchemy as sa


def _say(summary: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(summary, default=str) + "\n")
    sys.stdout.flush()


def terminate(url: str, admin_conninfo: str, partition: str, chunk_size: str) -> int:
    import dagster as dg

    from fitness_jobs.db import bulk
    from fitness_jobs.defs.common import DB_RETRY_POLICY
    from fitness_jobs.defs.nightly.assets import user_behavior_metrics
    from fitness_jobs.defs.resources import AppDatabase
    from fitness_jobs.pipelines import nightly, nightly_chunk

    real = bulk.upsert_counted  # the nightly chunk's write
    calls: list[int] = []

    def upsert(
        conn: sa.Connection,
        table_name: str,
        records: Sequence[Mapping[str, Any]],
        key: Sequence[str],
        **options: Any,
    ) -> Any:
        if table_name == nightly.METRICS_TABLE:
            calls.append(len(records))
            if len(calls) == 2:
                raw = conn.connection.driver_connection
                assert raw is not None
                pid = raw.info.backend_pid
                with psycopg.connect(admin_conninfo, autocommit=True) as admin:
                    assert admin.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()
                    deadline = time.monotonic() + 10
                    while admin.execute(
                        "SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)
                    ).fetchone():
                        assert time.monotonic() < deadline, "backend survived its termination"
                        time.sleep(0.05)
        return real(conn, table_name, records, key, **options)

    bulk.upsert_counted = upsert  # type: ignore[assignment]
    nightly_chunk.upsert_counted = upsert  # type: ignore[assignment]  (the chunk writes)
    result = dg.materialize(
        [user_behavior_metrics],
        partition_key=partition,
        resources={"app_db": AppDatabase(url=url)},
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
        run_config={"ops": {"user_behavior_metrics": {"config": {"chunk_size": int(chunk_size)}}}},
    )
    events = [
        e.event_type_value
        for e in result.all_events
        if e.step_key == "user_behavior_metrics.nightly_part[part_1_of_1]"  # the one part
    ]
    mats = result.asset_materializations_for_node("user_behavior_metrics")
    metadata = {k: v.value for k, v in mats[-1].metadata.items()} if mats else {}
    retry_errors = [
        e.event_specific_data.error.to_string()
        for e in result.all_events
        if e.event_type_value == "STEP_UP_FOR_RETRY"
        and e.event_specific_data is not None
        and getattr(e.event_specific_data, "error", None) is not None
    ]
    _say(
        {
            "success": result.success,
            "retry_delay": DB_RETRY_POLICY.delay,
            "events": events,
            "retry_errors": retry_errors,
            "upsert_calls": calls,
            "written_users": metadata.get("written_users"),
            "failed_users": metadata.get("failed_users"),
        }
    )
    return 0


def kill_after_claim(url: str, week: str, chunk_size: str, kill_on: str) -> int:
    from fitness_jobs.db.engine import make_engine
    from fitness_jobs.pipelines import weekly, weekly_chunk

    real = weekly_chunk.upsert
    claims: list[int] = []

    def upsert(
        conn: sa.Connection,
        table_name: str,
        records: Sequence[Mapping[str, Any]],
        key: Sequence[str],
        **options: Any,
    ) -> list[tuple[Any, ...]]:
        written = real(conn, table_name, records, key, **options)
        if table_name == weekly_chunk.REPORTS_TABLE:
            claims.append(len(written))
            if len(claims) == int(kill_on):
                # The claim is in this (open) transaction; the predictions and the commit
                # never come.
                _say({"claims": claims, "dying_after_claiming": len(written)})
                os._exit(9)
        return written

    weekly_chunk.upsert = upsert  # type: ignore[assignment]
    run = weekly.run_weekly(
        make_engine(url),
        mode="catch_up",
        week=dt.date.fromisoformat(week),
        chunk_size=int(chunk_size),
    )
    _say({"claims": claims, "written": run.written})
    return 0


if __name__ == "__main__":
    command, *arguments = sys.argv[1:]
    handlers = {"terminate": terminate, "kill-after-claim": kill_after_claim}
    sys.exit(handlers[command](*arguments))
