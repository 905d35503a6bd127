"""Backfills and fan-out, measured through Dagster (PostgreSQL only).

*Backfill*: the nightly job over a range of partitions as one Dagster run (the run tags
``dagster/asset_partition_range_start``/``_end``, what a backfill with the job's
multi-run policy sets) against one run per partition, which is what a backfill without
ranges does and so the backfill's baseline.  Both are ``execute_in_process`` runs of
``nightly_metrics_job`` on an ephemeral instance; the single-partition runs are made one
after the other in one process (the job definition built once, as a run worker would).
Before each side the rows of the range's days are deleted, so both insert the same rows
into the same state; the rows the singles left are copied to a table and the range's rows
are then compared with them, value by value (every column but ``computed_at``).

*Fan-out*: one partition of the nightly job through ``dg.execute_job`` with the
multiprocess executor (``FITNESS_EXECUTOR=multiprocess``, ``FITNESS_MAX_WORKERS=N``) on a
persistent temporary instance, so the steps of the run (the chunks of users, once the
nightly asset fans out) run in up to N processes.
"""

from __future__ import annotations

import datetime as dt
import os
import resource
import tempfile
import time
from collections.abc import Iterable, Sequence
from typing import Any

import dagster as dg
import sqlalchemy as sa

from fitness_jobs.core.windows import snapshot_instant

METRICS_TABLE = "user_behavior_metrics"
USAGE_TABLE = "coach_usage_daily"
SINGLES_METRICS = "bench_backfill_singles_metrics"
SINGLES_USAGE = "bench_backfill_singles_usage"
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
PARTITION_TAG = "dagster/partition"
# The run's phase timings (the same on every materialisation of a run).
PHASES = ("read_seconds", "validate_seconds", "compute_seconds", "write_seconds")


def range_days(last: dt.date, days: int) -> list[dt.date]:
    """The ``days`` partition days ending at ``last`` (inclusive), in date order."""
    return [last - dt.timedelta(days=days - 1 - i) for i in range(days)]


def spread(days: Sequence[dt.date], count: int) -> list[dt.date]:
    """``count`` days spread evenly over ``days`` (first and last included)."""
    if count >= len(days):
        return list(days)
    if count == 1:
        return [days[-1]]
    step = (len(days) - 1) / (count - 1)
    return sorted({days[round(i * step)] for i in range(count)})


def _columns(engine: sa.Engine, table: str) -> list[str]:
    names = [c["name"] for c in sa.inspect(engine).get_columns(table)]
    return [n for n in names if n != "computed_at"]


def _bounds(days: Sequence[dt.date]) -> dict[str, Any]:
    return {
        "lo": snapshot_instant(min(days)),
        "hi": snapshot_instant(max(days)),
        "first": min(days),
        "last": max(days),
    }


def delete_range(engine: sa.Engine, days: Sequence[dt.date]) -> int:
    """Delete the nightly job's rows of ``days`` (metrics by snapshot, usage by day)."""
    with engine.begin() as conn:
        gone = conn.execute(
            sa.text(f"DELETE FROM {METRICS_TABLE} WHERE snapshot_at BETWEEN :lo AND :hi"),
            _bounds(days),
        ).rowcount
        conn.execute(
            sa.text(f"DELETE FROM {USAGE_TABLE} WHERE usage_date BETWEEN :first AND :last"),
            _bounds(days),
        )
    return int(gone or 0)


def _metrics_where(days: Sequence[dt.date]) -> tuple[str, dict[str, Any]]:
    """Rows of exactly these partition days (their snapshot instants)."""
    params = {f"s{i}": snapshot_instant(day) for i, day in enumerate(days)}
    return f"snapshot_at IN ({', '.join(':' + k for k in params)})", params


def _usage_where(days: Sequence[dt.date]) -> tuple[str, dict[str, Any]]:
    params = {f"d{i}": day for i, day in enumerate(days)}
    return f"usage_date IN ({', '.join(':' + k for k in params)})", params


def snapshot_rows(engine: sa.Engine, days: Sequence[dt.date]) -> dict[str, int]:
    """Copy the nightly job's rows of ``days`` (all columns but ``computed_at``) to the
    tables the range run is compared with; their row counts."""
    counts = {}
    with engine.begin() as conn:
        for source, copy, where in (
            (METRICS_TABLE, SINGLES_METRICS, _metrics_where(days)),
            (USAGE_TABLE, SINGLES_USAGE, _usage_where(days)),
        ):
            cols = ", ".join(_columns(engine, source))
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {copy}"))
            conn.execute(
                sa.text(
                    f"CREATE UNLOGGED TABLE {copy} AS SELECT {cols} FROM {source} WHERE {where[0]}"
                ),
                where[1],
            )
            counts[source] = int(conn.execute(sa.text(f"SELECT count(*) FROM {copy}")).scalar_one())
    return counts


def compare_rows(engine: sa.Engine, days: Sequence[dt.date]) -> dict[str, Any]:
    """The range's rows of ``days`` against the singles' copy, value by value (``EXCEPT
    ALL`` both ways: equal values, NULLs equal, duplicates counted); drops the copy."""
    out: dict[str, Any] = {}
    with engine.begin() as conn:
        for source, copy, where in (
            (METRICS_TABLE, SINGLES_METRICS, _metrics_where(days)),
            (USAGE_TABLE, SINGLES_USAGE, _usage_where(days)),
        ):
            cols = ", ".join(_columns(engine, source))
            ours = f"SELECT {cols} FROM {source} WHERE {where[0]}"
            theirs = f"SELECT {cols} FROM {copy}"

            def count(sql: str, params: dict[str, Any]) -> int:
                return int(conn.execute(sa.text(sql), params).scalar_one())

            out[source] = {
                "rows_range": count(f"SELECT count(*) FROM ({ours}) r", where[1]),
                "rows_singles": count(f"SELECT count(*) FROM {copy}", {}),
                "only_in_range": count(
                    f"SELECT count(*) FROM ({ours} EXCEPT ALL {theirs}) d", where[1]
                ),
                "only_in_singles": count(
                    f"SELECT count(*) FROM ({theirs} EXCEPT ALL {ours}) d", where[1]
                ),
            }
            conn.execute(sa.text(f"DROP TABLE {copy}"))
    same = all(v["only_in_range"] == 0 and v["only_in_singles"] == 0 for v in out.values())
    # An empty comparison proves nothing: the range must have written metrics rows.
    out["identical_rows"] = same and out[METRICS_TABLE]["rows_range"] > 0
    return out


# --------------------------------------------------------------------------- Dagster runs


def summarize(entries: Iterable[dg.EventLogEntry], success: bool) -> dict[str, Any]:
    """A run's counts from its events: the metrics asset's written users and changed rows
    summed over its partitions (a range run materialises each), failed users, the phase
    timings, how long each step took and (multiprocess) how long each step's process
    took from launch to the step's start."""
    per_partition: dict[str, dict[str, Any]] = {}
    run_level: dict[str, Any] = {}
    starts: dict[str, float] = {}
    launches: dict[str, float] = {}
    steps: dict[str, float] = {}
    startup: dict[str, float] = {}
    for entry in entries:
        event = entry.dagster_event
        if event is None:
            continue
        if event.event_type_value == "STEP_WORKER_STARTING" and event.step_key:
            launches[event.step_key] = entry.timestamp
        if event.is_step_start and event.step_key:
            starts[event.step_key] = entry.timestamp
            if event.step_key in launches:  # a step process: its start-up
                startup[event.step_key] = round(entry.timestamp - launches[event.step_key], 3)
        if (event.is_step_success or event.is_step_failure) and event.step_key in starts:
            steps[event.step_key] = round(entry.timestamp - starts[event.step_key], 3)
        if not event.is_step_materialization:
            continue
        mat = event.step_materialization_data.materialization
        if mat.asset_key != dg.AssetKey(METRICS_TABLE):
            continue
        values = {k: v.value for k, v in mat.metadata.items()}
        per_partition[mat.partition or ""] = values
        run_level.update(values)
    summed = {
        key: sum(int(v.get(key, 0) or 0) for v in per_partition.values())
        for key in ("active_users", "written_users", "rows_changed")
    }
    return {
        **summed,
        "failed_users": int(run_level.get("failed_users", 0) or 0),
        "partitions": len(per_partition),
        "phases": {k: run_level[k] for k in PHASES if k in run_level},
        "steps": steps,
        "step_process_startup": startup,
        "success": success,
    }


def _in_process(
    job: dg.JobDefinition, partition_key: str | None, tags: dict[str, str] | None
) -> tuple[float, dict[str, Any]]:
    instance = dg.DagsterInstance.ephemeral()
    started = time.perf_counter()
    result = job.execute_in_process(
        partition_key=partition_key, tags=tags, instance=instance, raise_on_error=False
    )
    seconds = time.perf_counter() - started
    return seconds, summarize(instance.all_logs(result.run_id), result.success)


def _nightly_job(url: str) -> dg.JobDefinition:
    """The job for ``execute_in_process`` runs, which execute every step in this process:
    so the nightly asset is configured for the in-process executor (one part of users,
    not one per worker of an executor these runs do not use)."""
    os.environ.update(FITNESS_DATABASE_URL=url, FITNESS_EXECUTOR="in_process")
    from benchmarks.dagster_jobs import nightly_metrics_job

    return nightly_metrics_job()


def run_singles(
    url: str, engine: sa.Engine, days: Sequence[dt.date], run_days: Sequence[dt.date]
) -> dict[str, Any]:
    """One ``execute_in_process`` run per day of ``run_days`` (in date order, in this
    process), after deleting the rows of all ``days``; then a copy of their rows."""
    job = _nightly_job(url)
    deleted = delete_range(engine, days)
    runs = []
    for day in sorted(run_days):
        seconds, out = _in_process(job, day.isoformat(), None)
        runs.append({"partition": day.isoformat(), "seconds": round(seconds, 3), **out})
    measured = sum(r["seconds"] for r in runs)
    sampled = len(run_days) < len(days)
    seconds, how = measured, None
    if sampled and len(runs) > 1:
        # The first run of the process pays its warm-up once, as in a full sequence; the
        # others stand for the remaining partitions.
        rest = [r["seconds"] for r in runs[1:]]
        seconds = runs[0]["seconds"] + sum(rest) / len(rest) * (len(days) - 1)
        how = f"first run + mean of the other {len(rest)} × {len(days) - 1}"
    elif sampled:
        seconds, how = measured * len(days), f"× {len(days)}"
    return {
        "seconds": seconds,
        "measured_seconds": measured,
        "partitions": len(days),
        "runs": len(runs),
        "sampled": sampled,
        "extrapolation": how,
        "deleted_rows_before": deleted,
        "success": all(r["success"] for r in runs),
        "failed_users": sum(r["failed_users"] for r in runs),
        "written_users": sum(r["written_users"] for r in runs),
        "rows_changed": sum(r["rows_changed"] for r in runs),
        "per_partition_seconds": {r["partition"]: r["seconds"] for r in runs},
        "snapshot_rows": snapshot_rows(engine, run_days),
    }


def _sum_phases(phases: Iterable[dict[str, float]]) -> dict[str, float]:
    total: dict[str, float] = {}
    for one in phases:
        for key, value in one.items():
            total[key] = round(total.get(key, 0.0) + float(value), 3)
    return total


def run_range(
    url: str, engine: sa.Engine, days: Sequence[dt.date], compare: bool, block_sample: int = 0
) -> dict[str, Any]:
    """One ``execute_in_process`` run of the range ``days`` (after deleting their rows);
    with ``compare``, its rows against the singles' copy.  With ``block_sample``, the
    range is cut into the runs a backfill makes (``MAX_DAYS_PER_READ`` partitions each)
    and only that many of them, spread over the range, are run and extrapolated by days."""
    from fitness_jobs.pipelines.nightly import MAX_DAYS_PER_READ

    job = _nightly_job(url)
    deleted = delete_range(engine, days)
    blocks = [list(days[i : i + MAX_DAYS_PER_READ]) for i in range(0, len(days), MAX_DAYS_PER_READ)]
    chosen = blocks
    if block_sample and block_sample < len(blocks):
        step = (len(blocks) - 1) / max(1, block_sample - 1)
        chosen = [blocks[i] for i in sorted({round(k * step) for k in range(block_sample)})]
    runs = []
    for block in chosen:
        tags = {RANGE_START_TAG: block[0].isoformat(), RANGE_END_TAG: block[-1].isoformat()}
        seconds, out = _in_process(job, None, tags)
        runs.append({"first": block[0].isoformat(), "days": len(block), "seconds": seconds, **out})
    measured = sum(r["seconds"] for r in runs)
    measured_days = sum(r["days"] for r in runs)
    sampled = len(chosen) < len(blocks)
    result: dict[str, Any] = {
        "seconds": measured * len(days) / measured_days if sampled else measured,
        "measured_seconds": measured,
        "runs": len(runs),
        "partitions": sum(r["partitions"] for r in runs),  # materialised by the runs made
        "active_users": sum(r.get("active_users", 0) for r in runs),
        "phases": _sum_phases(r["phases"] for r in runs),
        "runs_in_full_backfill": len(blocks),
        "sampled": sampled,
        "extrapolation": f"× {len(days)} / {measured_days} days" if sampled else None,
        "deleted_rows_before": deleted,
        "success": all(r["success"] for r in runs),
        "written_users": sum(r["written_users"] for r in runs),
        "failed_users": sum(r["failed_users"] for r in runs),
        "rows_changed": sum(r["rows_changed"] for r in runs),
        "per_run": runs,
    }
    if compare and not sampled:
        result["comparison"] = compare_rows(engine, days)
        result["identical_rows"] = result["comparison"].pop("identical_rows")
    else:
        with engine.begin() as conn:
            for copy in (SINGLES_METRICS, SINGLES_USAGE):
                conn.execute(sa.text(f"DROP TABLE IF EXISTS {copy}"))
        result["identical_rows"] = None
    return result


def run_fanout(url: str, partition: dt.date, workers: int) -> dict[str, Any]:
    """One partition through ``dg.execute_job`` with the multiprocess executor and
    ``workers`` step processes at most, on a temporary persistent instance."""
    os.environ.update(
        FITNESS_DATABASE_URL=url, FITNESS_EXECUTOR="multiprocess", FITNESS_MAX_WORKERS=str(workers)
    )
    from benchmarks.dagster_jobs import nightly_metrics_job

    with tempfile.TemporaryDirectory(prefix="bench_dagster_") as home:
        instance = dg.DagsterInstance.local_temp(home)
        try:
            started = time.perf_counter()
            with dg.execute_job(
                dg.reconstructable(nightly_metrics_job),
                instance=instance,
                tags={PARTITION_TAG: partition.isoformat()},
                raise_on_error=False,
            ) as result:
                seconds = time.perf_counter() - started
                out = summarize(instance.all_logs(result.run_id), result.success)
        finally:
            instance.dispose()
    # The step processes (spawned and joined by this one): the largest one's peak RSS.
    steps_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
    return {
        "seconds": seconds,
        "workers": workers,
        "executor": "multiprocess",
        "peak_rss_step_process_mb": round(steps_mb, 1),
        **out,
    }
