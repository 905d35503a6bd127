"""``run_failure_alert_sensor``: one alert per failed run of the nightly and weekly jobs.

A run fails when a user failed (the blocking ``no_failed_users`` check) or for another
reason (configuration error, systematic failure, lost run worker …).  For each failed run
the sensor reads the failure metadata the run recorded (its event log, through the
instance), builds the payload (``payload.py``) and delivers it (``delivery.py``): a JSON
POST to ``FITNESS_ALERT_WEBHOOK_URL`` and, when ``FITNESS_SLACK_TOKEN`` and
``FITNESS_SLACK_CHANNEL`` are set, a short Slack message.  Both are read from the
environment at each evaluation.  With neither configured the evaluation is skipped with
that reason.  A delivery that fails (after one retry) is logged and fails that tick
once; the sensor's cursor has moved on, so it is never retried.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg

from fitness_jobs.defs.alerts import delivery
from fitness_jobs.defs.alerts.payload import build_payload, slack_text
from fitness_jobs.defs.nightly import jobs as nightly_jobs
from fitness_jobs.defs.weekly import jobs as weekly_jobs

PARTITION_TAG = "dagster/partition"
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
FAILURE_KEYS = ("failed_users", "failure_codes", "failures")
BLOCKING_CHECK_ERROR = "DagsterAssetCheckFailedError"


class AlertDeliveryError(RuntimeError):
    """An alert could not be delivered (the message never contains the URL or token)."""


def failure_reports(instance: dg.DagsterInstance, run_id: str) -> list[dict[str, Any]]:
    """Per asset, the failure metadata (``failed_users``, ``failure_codes``, ``failures``)
    of the latest materialisation or check evaluation of the run that carries it."""
    records = instance.get_records_for_run(
        run_id,
        of_type={
            dg.DagsterEventType.ASSET_MATERIALIZATION,
            dg.DagsterEventType.ASSET_CHECK_EVALUATION,
        },
    ).records
    latest: dict[dg.AssetKey, dict[str, Any]] = {}
    for record in records:  # oldest first: a later event of an asset replaces an earlier one
        entry = record.event_log_entry
        event = entry.asset_materialization or entry.asset_check_evaluation
        if event is None or "failed_users" not in event.metadata:
            continue
        latest[event.asset_key] = {
            key: event.metadata[key].value for key in FAILURE_KEYS if key in event.metadata
        }
    return list(latest.values())


def _error_line(error: Any) -> str:
    """``Class: message`` (first line) of a SerializableErrorInfo."""
    line = (error.message or "").strip().splitlines()[0] if error.message else ""
    head, sep, rest = line.partition(": ")
    if sep and head.endswith(error.cls_name):
        return f"{error.cls_name}: {rest}"
    return line or error.cls_name


def failure_description(
    run_failure: dg.DagsterEvent | None,
    step_failures: Sequence[dg.DagsterEvent],
    explained_by_failed_users: bool,
) -> str | None:
    """Why the run failed, unless failed users (the blocking check) explain it all: each
    failed step's description, or, when no step failed, the run failure's own message."""
    texts: list[str] = []
    for event in step_failures:
        data = event.step_failure_data
        error = data.error if data is not None else None
        if (
            explained_by_failed_users
            and error is not None
            and error.cls_name == BLOCKING_CHECK_ERROR
        ):
            continue
        described = data.user_failure_data.description if data and data.user_failure_data else None
        text = described or (_error_line(error) if error is not None else "step failed")
        texts.append(f"{event.step_key}: {text}")
    if texts:
        return "; ".join(texts)
    if step_failures or run_failure is None:
        return None
    parts = [run_failure.message or "run failed"]
    job_error = run_failure.job_failure_data.error if run_failure.job_failure_data else None
    if job_error is not None:
        parts.append(_error_line(job_error))
    return " ".join(parts)


def run_partition(tags: Mapping[str, str]) -> str | None:
    """The run's partition key, or ``first...last`` for a range run (a backfill)."""
    if PARTITION_TAG in tags:
        return tags[PARTITION_TAG]
    if RANGE_START_TAG in tags and RANGE_END_TAG in tags:
        return f"{tags[RANGE_START_TAG]}...{tags[RANGE_END_TAG]}"
    return None


def alert_payload(
    instance: dg.DagsterInstance,
    run: dg.DagsterRun,
    run_failure: dg.DagsterEvent | None,
    step_failures: Sequence[dg.DagsterEvent],
    ui_base_url: str | None,
) -> dict[str, Any]:
    reports = failure_reports(instance, run.run_id)
    failed_users = sum(int(r.get("failed_users") or 0) for r in reports)
    return build_payload(
        job=run.job_name,
        partition=run_partition(run.tags),
        run_id=run.run_id,
        ui_base_url=ui_base_url,
        reports=reports,
        failure_description=failure_description(run_failure, step_failures, failed_users > 0),
    )


def send_alert(context: dg.RunFailureSensorContext) -> dg.SkipReason | None:
    """Build and deliver the alert of ``context``'s failed run (module doc)."""
    run = context.dagster_run
    url = delivery.webhook_url()
    slack = delivery.slack_settings()
    if url is None and slack is None:
        reason = (
            f"{delivery.WEBHOOK_URL_ENV} is not set (nor Slack): "
            f"no alert sent for run {run.run_id} of {run.job_name}"
        )
        context.log.warning(reason)
        return dg.SkipReason(reason)
    payload: Mapping[str, Any] = alert_payload(
        context.instance,
        run,
        context.failure_event,
        context.get_step_failure_events(),
        delivery.ui_base_url(),
    )
    problems: list[str] = []
    if url is not None and (problem := delivery.post_json(url, payload)):
        problems.append(f"webhook: {problem}")
    if slack is not None and (problem := delivery.post_slack(*slack, slack_text(payload))):
        problems.append(f"slack: {problem}")
    if problems:
        message = f"alert for run {run.run_id} of {run.job_name} not delivered: " + "; ".join(
            problems
        )
        context.log.error(message)
        raise AlertDeliveryError(message)
    context.log.info(f"alert sent for run {run.run_id} of {run.job_name}")
    return None


@dg.run_failure_sensor(
    name="run_failure_alert_sensor",
    monitored_jobs=[nightly_jobs.nightly_metrics_job, weekly_jobs.weekly_reports_job],
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="On each failed run of nightly_metrics_job or weekly_reports_job (failed users "
    "or any other failure): POST a JSON alert (job, partition, run id and link, failed users "
    "by error code, failure messages) to FITNESS_ALERT_WEBHOOK_URL, and a short message to "
    "Slack when FITNESS_SLACK_TOKEN and FITNESS_SLACK_CHANNEL are set. No user ids, e-mails "
    "or health values. See docs/operations.md, Alerts.",
)
def run_failure_alert_sensor(context: dg.RunFailureSensorContext) -> dg.SkipReason | None:
    return send_alert(context)
