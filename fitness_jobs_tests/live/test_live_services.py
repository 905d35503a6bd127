"""The deployment as operators use it: ``dagster-webserver`` and ``dagster-daemon`` as real
processes on ``deploy/dagster.yaml`` (PostgreSQL storage, queued run coordinator, run
monitoring), driven through GraphQL the way the UI drives them.

1. a nightly partition launched from the UI (``launchRun``), queued and run by the daemon;
2. a backfill of three nightly partitions (``launchPartitionBackfill``), run by the
   daemon's backfill loop and run queue;
3. a backfill of one weekly partition (catch-up mode, the default run config);
4. ``weekly_report_sensor`` switched on (``startSensor``) and its first tick read back.

Steps 1–3 are launched at once, backfills first (the daemon's backfill loop wakes only every
30 s), then waited for one by one; the sensor is switched on last.  The runs use the
in-process executor (``FITNESS_EXECUTOR``, see ``scenario``); everything else is production.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa

from fitness_jobs.core.windows import week_in_window_span
from fitness_jobs.db.schema import TransformationPrediction, UserBehaviorMetrics, WeeklyReport
from fitness_jobs.pipelines.weekly import missing_reports
from fitness_jobs_tests.live.dagster_api import LiveDagster, int_metadata, tag_map
from fitness_jobs_tests.live.scenario import (
    BACKFILL_PARTITIONS,
    LAUNCHED_TIMEOUT_S,
    NIGHTLY_JOB,
    OUTSIDE_SPAN,
    RUN_PARTITION,
    SENSOR,
    SENSOR_INTERVAL_S,
    TICK_TIMEOUT_S,
    WEEK,
    WEEKLY_JOB,
)

pytestmark = [pytest.mark.live, pytest.mark.postgres]


def snapshot_of(partition: str) -> dt.datetime:
    """Nightly partition D snapshots at D+1 00:00 UTC."""
    day = dt.date.fromisoformat(partition) + dt.timedelta(days=1)
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


def run_partitions(run: dict[str, Any], candidates: list[str]) -> list[str]:
    """The partitions a run covers: its ``dagster/partition`` tag, or the range of a run
    made by a backfill policy (``dagster/asset_partition_range_start``/``_end``)."""
    tags = tag_map(run)
    if "dagster/partition" in tags:
        return [tags["dagster/partition"]]
    start = tags["dagster/asset_partition_range_start"]
    end = tags["dagster/asset_partition_range_end"]
    assert start in candidates and end in candidates, tags
    return [p for p in candidates if start <= p <= end]


def materialization(run: dict[str, Any], asset: str, partition: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [
        m
        for m in run["assetMaterializations"]
        if m["assetKey"]["path"] == [asset] and m["partition"] == partition
    ]
    assert len(found) == 1, (asset, partition, run["assetMaterializations"])
    return found[0]


def assert_no_failed_users(metadata: dict[str, int]) -> None:
    # ``partition_failed_users``: a range run's own count for one partition.
    assert metadata.get("failed_users", 0) == metadata.get("partition_failed_users", 0) == 0


def assert_nightly_snapshot(engine: sa.Engine, run: dict[str, Any], partition: str) -> int:
    """The partition's snapshot has one row per active user, as the run's metadata says."""
    t = UserBehaviorMetrics.__table__
    snapshot = snapshot_of(partition)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(t.c.user_id, t.c.metrics_date).where(t.c.snapshot_at == snapshot)
        ).all()
    assert rows, f"no user_behavior_metrics rows for snapshot {snapshot}"
    users = Counter(r.user_id for r in rows)
    assert max(users.values()) == 1, "a user has two rows in one snapshot"
    # Each row is dated with the user's local date at the snapshot: D or D+1.
    local_dates = {snapshot.date() - dt.timedelta(days=1), snapshot.date()}
    assert {r.metrics_date for r in rows} <= local_dates
    metadata = int_metadata(materialization(run, "user_behavior_metrics", partition))
    assert_no_failed_users(metadata)
    assert metadata["active_users"] == metadata["written_users"] == len(rows)
    return len(rows)


@dataclass(frozen=True)
class Launched:
    run_id: str
    nightly_backfill: str
    weekly_backfill: str
    deadline: float  # time.monotonic() by which all of it must have finished

    def remaining_s(self) -> float:
        return max(10.0, self.deadline - time.monotonic())


@pytest.fixture(scope="module")
def launched(live: LiveDagster) -> Launched:
    """Steps 1–3 launched together: the backfills first, then the single run."""
    deadline = time.monotonic() + LAUNCHED_TIMEOUT_S
    nightly_backfill = live.launch_backfill(f"{NIGHTLY_JOB}_partition_set", BACKFILL_PARTITIONS)
    weekly_backfill = live.launch_backfill(f"{WEEKLY_JOB}_partition_set", [WEEK])
    run_id = live.launch_run(NIGHTLY_JOB, RUN_PARTITION)
    return Launched(run_id, nightly_backfill, weekly_backfill, deadline)


def test_nightly_partition_launched_from_the_ui(
    live: LiveDagster, launched: Launched, live_app_db: sa.Engine
) -> None:
    run = live.wait_run_success(launched.run_id, launched.remaining_s())
    assert run["jobName"] == NIGHTLY_JOB
    assert tag_map(run)["dagster/partition"] == RUN_PARTITION
    assert "dagster/backfill" not in tag_map(run)
    assert_nightly_snapshot(live_app_db, run, RUN_PARTITION)


def test_nightly_backfill_run_by_the_daemon(
    live: LiveDagster, launched: Launched, live_app_db: sa.Engine
) -> None:
    backfill = live.wait_backfill_finished(launched.nightly_backfill, launched.remaining_s())
    assert backfill["status"] == "COMPLETED_SUCCESS"
    assert sorted(backfill["partitionNames"]) == BACKFILL_PARTITIONS
    runs = backfill["runs"]
    assert runs and {r["status"] for r in runs} == {"SUCCESS"}, runs
    # One run per day, or fewer runs over ranges of days (the assets' backfill policy).
    covered = [p for r in runs for p in run_partitions(r, BACKFILL_PARTITIONS)]
    assert sorted(covered) == BACKFILL_PARTITIONS
    for summary in runs:
        assert tag_map(summary)["dagster/backfill"] == launched.nightly_backfill
        run = live.run_details(summary["runId"])
        assert run["status"] == "SUCCESS"
        for partition in run_partitions(summary, BACKFILL_PARTITIONS):
            assert_nightly_snapshot(live_app_db, run, partition)


def test_weekly_backfill_catches_up_one_week(
    live: LiveDagster, launched: Launched, live_app_db: sa.Engine
) -> None:
    backfill = live.wait_backfill_finished(launched.weekly_backfill, launched.remaining_s())
    assert backfill["status"] == "COMPLETED_SUCCESS"
    [summary] = backfill["runs"]
    assert summary["status"] == "SUCCESS"
    assert run_partitions(summary, [WEEK]) == [WEEK]
    run = live.run_details(summary["runId"])
    week = dt.date.fromisoformat(WEEK)
    reports, predictions = WeeklyReport.__table__, TransformationPrediction.__table__
    with live_app_db.connect() as conn:
        report_users = Counter(
            conn.execute(sa.select(reports.c.user_id).where(reports.c.week_start == week)).scalars()
        )
        prediction_users = Counter(
            conn.execute(
                sa.select(predictions.c.user_id).where(predictions.c.week_start == week)
            ).scalars()
        )
        other_weeks = conn.execute(
            sa.select(sa.func.count()).select_from(reports).where(reports.c.week_start != week)
        ).scalar_one()
    assert report_users, f"no weekly_reports rows for week {WEEK}"
    assert max(report_users.values()) == 1, "a user has two reports for one week"
    assert prediction_users == report_users
    assert other_weeks == 0
    metadata = int_metadata(materialization(run, "weekly_reports", WEEK))
    assert_no_failed_users(metadata)
    assert metadata["written_reports"] == len(report_users)
    coverage = missing_reports(live_app_db, week)
    assert coverage["closed"] and coverage["missing"] == []
    assert coverage["eligible"] == len(report_users)


def test_weekly_sensor_ticks_once_switched_on(live: LiveDagster) -> None:
    assert live.sensor(SENSOR)["sensorState"]["status"] == "STOPPED"
    live.start_sensor(SENSOR)
    # FITNESS_WEEKLY_SENSOR_INTERVAL_SECONDS reached the code location.
    assert live.sensor(SENSOR)["minIntervalSeconds"] == SENSOR_INTERVAL_S
    tick = live.wait_first_tick(SENSOR, TICK_TIMEOUT_S)
    assert tick["error"] is None, tick["error"]
    # The sensor reads the wall clock a moment after the tick starts: judge by both ends.
    stamps = [tick["timestamp"], tick["endTimestamp"] or tick["timestamp"]]
    weeks = {week_in_window_span(dt.datetime.fromtimestamp(s, dt.UTC)) for s in stamps}
    if weeks == {None}:
        assert (tick["status"], tick["skipReason"]) == ("SKIPPED", OUTSIDE_SPAN), tick
        return
    # Inside the Sunday–Monday span: a week-specific skip, or a requested window-mode run.
    expected = []
    for week in weeks:
        if week is None:
            expected.append(("SKIPPED", OUTSIDE_SPAN))
        else:
            expected.append(
                ("SKIPPED", f"Week {week}: nobody is inside their window without a report.")
            )
            expected.append(("SUCCESS", f"weekly:{week.isoformat()}:"))
    if tick["status"] == "SUCCESS":
        assert len(tick["runIds"]) == 1, tick
        [run_key] = tick["runKeys"]
        assert ("SUCCESS", run_key[: len("weekly:YYYY-MM-DD:")]) in expected, tick
    else:
        assert (tick["status"], tick["skipReason"]) in expected, tick
