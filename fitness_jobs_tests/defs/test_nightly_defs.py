"""The nightly Dagster definitions: loading, schedule, blocking check, CLI exit codes."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import sqlalchemy as sa

from fitness_jobs.defs.nightly.assets import coach_usage_daily, user_behavior_metrics
from fitness_jobs.defs.nightly.checks import coverage, value_ranges
from fitness_jobs.defs.resources import AppDatabase
from fitness_jobs_tests.factories import user, workout, write

UTC = dt.UTC


def _url(engine: sa.Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def test_definitions_load_with_the_documented_names() -> None:
    from fitness_jobs.definitions import build_definitions

    defs = build_definitions()
    dg.Definitions.validate_loadable(defs)
    repo = defs.get_repository_def()
    assert {j.name for j in repo.get_all_jobs()} >= {
        "nightly_metrics_job",
        "weekly_reports_job",
        "weekly_report_coverage_job",
    }
    assert {s.name for s in repo.schedule_defs} == {
        "nightly_metrics_schedule",
        "weekly_report_coverage_schedule",
    }
    assert {s.name for s in repo.sensor_defs} == {
        "weekly_report_sensor",
        "run_failure_alert_sensor",
    }
    keys = {k.to_user_string() for k in repo.asset_graph.get_all_asset_keys()}
    assert {
        "user_behavior_metrics",
        "coach_usage_daily",
        "weekly_reports",
        "transformation_predictions",
        "app/users",
        "app/workouts",
    } <= keys
    # Lineage starts at the app tables.
    node = repo.asset_graph.get(dg.AssetKey("user_behavior_metrics"))
    assert dg.AssetKey(["app", "workouts"]) in node.parent_keys


def test_schedule_tick_at_0200_requests_yesterday() -> None:
    from fitness_jobs.definitions import build_definitions

    schedule = build_definitions().get_repository_def().get_schedule_def("nightly_metrics_schedule")
    assert schedule.cron_schedule == "0 2 * * *"
    assert schedule.execution_timezone in (None, "UTC")
    with dg.build_schedule_context(
        scheduled_execution_time=dt.datetime(2026, 11, 29, 2, 0, tzinfo=UTC)
    ) as context:
        data = schedule.evaluate_tick(context)
    requests = data.run_requests or []
    assert [r.partition_key for r in requests] == ["2026-11-28"]


def _materialize(engine: sa.Engine, partition: str, **config: object) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [user_behavior_metrics, coach_usage_daily, coverage, value_ranges],
        partition_key=partition,
        resources={"app_db": AppDatabase(url=_url(engine))},
        run_config={"ops": {"user_behavior_metrics": {"config": config}}} if config else None,
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


def test_materialization_metadata_and_passing_checks(db_engine: sa.Engine) -> None:
    write(
        db_engine,
        users=[user(1), user(2, timezone=None)],
        workouts=[workout(1, "2026-11-27 10:00"), workout(2, "2026-11-28 23:00")],
    )
    result = _materialize(db_engine, "2026-11-28")
    assert result.success
    mats = result.asset_materializations_for_node("user_behavior_metrics")
    md = {k: v.value for k, v in mats[0].metadata.items()}
    assert md["active_users"] == 2 and md["written_users"] == 2 and md["failed_users"] == 0
    assert md["timezone_null_fallback"] == 1
    assert "on_track | 2" in md["preview"] and "2026-11-29 | 2" in md["preview"]
    assert (
        md["metrics_version"] == 1
        and md["snapshot_at"] == dt.datetime(2026, 11, 29, tzinfo=UTC).timestamp()
    )
    assert "example.com" not in str(md)
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks == {"no_failed_users": True, "coverage": True, "value_ranges": True}


def test_a_failed_user_fails_the_blocking_check_and_the_run(db_engine: sa.Engine) -> None:
    write(
        db_engine,
        users=[user(1), user(2, timezone="UTC+3")],
        workouts=[workout(1, "2026-11-27 10:00"), workout(2, "2026-11-27 10:00")],
    )
    result = _materialize(db_engine, "2026-11-28")
    assert not result.success
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert evaluations["no_failed_users"].passed is False
    md = {k: v.value for k, v in evaluations["no_failed_users"].metadata.items()}
    assert md["failed_user_ids"] == [{"user_id": 2, "error": "invalid_timezone"}]
    # The good user's row is committed all the same.
    with db_engine.connect() as conn:
        assert conn.execute(
            sa.text("SELECT user_id FROM user_behavior_metrics")
        ).scalars().all() == [1]


def test_negative_limit_is_a_configuration_failure(db_engine: sa.Engine) -> None:
    result = _materialize(db_engine, "2026-11-28", limit=-3)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    data = failure.step_failure_data
    assert data is not None and data.user_failure_data is not None
    assert "limit" in (data.user_failure_data.description or "")


def test_backfills_run_as_ranges_of_up_to_31_days() -> None:
    """A backfill of many days runs as few runs (each a range; tests in test_range_runs)."""
    for asset in (user_behavior_metrics, coach_usage_daily):
        assert asset.backfill_policy == dg.BackfillPolicy.multi_run(max_partitions_per_run=62)
