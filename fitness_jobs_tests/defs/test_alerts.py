"""The run-failure alert: real failed runs, the sensor evaluated as Dagster does, and the
JSON a local webhook (127.0.0.1, port 0) receives."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import sqlalchemy as sa
from slack_sdk import WebClient

from fitness_jobs.defs.alerts import delivery
from fitness_jobs.defs.alerts.payload import merge_failures, scrub
from fitness_jobs.defs.alerts.sensors import AlertDeliveryError, run_failure_alert_sensor
from fitness_jobs.pipelines.runner import VALIDATION_MESSAGES
from fitness_jobs_tests.factories import user, workout, write

SENSOR = "run_failure_alert_sensor"
SECRET = "s3cret-token"
TZ_MESSAGE = VALIDATION_MESSAGES["invalid_timezone"]


@dataclass
class Webhook:
    url: str
    received: list[dict[str, Any]] = field(default_factory=list)
    raw: list[str] = field(default_factory=list)
    status: int = 204


@pytest.fixture
def webhook(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Webhook:
    """A receiver on 127.0.0.1 (port 0) in a thread; ``FITNESS_ALERT_WEBHOOK_URL`` points
    at it (with a secret in the query string that must never leak)."""
    hook = Webhook(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"])).decode()
            assert self.headers["Content-Type"] == "application/json"
            hook.raw.append(body)
            hook.received.append(json.loads(body))
            self.send_response(hook.status)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    request.addfinalizer(stop)
    hook.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/fitness?token={SECRET}"
    monkeypatch.setenv(delivery.WEBHOOK_URL_ENV, hook.url)
    for name in (delivery.UI_BASE_URL_ENV, delivery.SLACK_TOKEN_ENV, delivery.SLACK_CHANNEL_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(delivery, "RETRY_DELAY_S", 0.0)
    for name in ("no_proxy", "NO_PROXY"):  # urllib honours *_proxy: never for the receiver
        monkeypatch.setenv(name, "127.0.0.1,localhost")
    return hook


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as instance:
        yield instance


def _app_db(engine: sa.Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FITNESS_DATABASE_URL", engine.url.render_as_string(hide_password=False))


def _run(
    instance: dg.DagsterInstance, job_name: str, partition: str, **op_config: Any
) -> dg.ExecuteInProcessResult:
    from fitness_jobs.definitions import build_definitions

    op = "user_behavior_metrics" if job_name == "nightly_metrics_job" else "weekly_reports"
    result = (
        build_definitions()
        .resolve_job_def(job_name)
        .execute_in_process(
            instance=instance,
            partition_key=partition,
            run_config={"ops": {op: {"config": op_config}}} if op_config else None,
            raise_on_error=False,
        )
    )
    assert not result.success
    return result


def _evaluate(instance: dg.DagsterInstance, result: dg.ExecuteInProcessResult) -> Any:
    context = dg.build_run_status_sensor_context(
        sensor_name=SENSOR,
        dagster_instance=instance,
        dagster_run=result.dagster_run,
        dagster_event=result.get_run_failure_event(),
    )
    return run_failure_alert_sensor(context)


def _assert_private(hook: Webhook) -> None:
    for body in hook.raw:
        assert "@example.com" not in body and "@" not in body
        assert "weight" not in body.lower()
        assert hook.url not in body and SECRET not in body and "/hooks/" not in body
        assert "sqlite:" not in body and "postgresql" not in body
        assert "sample_user_ids" not in body and "user_id" not in body


def _failed_tz_users(engine: sa.Engine) -> None:
    write(
        engine,
        users=[user(1), user(2, timezone="Mars/Base")],
        workouts=[workout(1, "2026-11-27 10:00"), workout(2, "2026-11-27 10:00")],
    )


def test_nightly_run_failed_by_the_blocking_check(
    db_engine: sa.Engine,
    webhook: Webhook,
    instance: dg.DagsterInstance,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _app_db(db_engine, monkeypatch)
    _failed_tz_users(db_engine)
    result = _run(instance, "nightly_metrics_job", "2026-11-28")
    assert _evaluate(instance, result) is None  # delivered: Dagster records a reaction
    run_id = result.run_id
    assert webhook.received == [
        {
            "event": "run_failure",
            "job": "nightly_metrics_job",
            "partition": "2026-11-28",
            "run_id": run_id,
            "run_url": f"http://127.0.0.1:3000/runs/{run_id}",
            "failed_users": 1,
            "failure_codes": {"invalid_timezone": 1},
            "failures": [{"code": "invalid_timezone", "message": TZ_MESSAGE, "users": 1}],
            "failures_omitted": 0,
            "failure_description": None,
        }
    ]
    _assert_private(webhook)


def test_weekly_run_failed_by_the_blocking_check_links_to_the_configured_ui(
    db_engine: sa.Engine,
    webhook: Webhook,
    instance: dg.DagsterInstance,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _app_db(db_engine, monkeypatch)
    monkeypatch.setenv(delivery.UI_BASE_URL_ENV, "https://dagster.example.org/prefix/")
    write(db_engine, users=[user(1), user(2, timezone="Mars/Base"), user(3, timezone="IST")])
    result = _run(instance, "weekly_reports_job", "2026-11-02")
    _evaluate(instance, result)
    run_id = result.run_id
    assert webhook.received == [
        {
            "event": "run_failure",
            "job": "weekly_reports_job",
            "partition": "2026-11-02",
            "run_id": run_id,
            "run_url": f"https://dagster.example.org/prefix/runs/{run_id}",
            "failed_users": 2,
            "failure_codes": {"invalid_timezone": 2},
            "failures": [{"code": "invalid_timezone", "message": TZ_MESSAGE, "users": 2}],
            "failures_omitted": 0,
            "failure_description": None,
        }
    ]
    _assert_private(webhook)


def test_configuration_error_carries_the_failure_description(
    sqlite_engine: sa.Engine,
    webhook: Webhook,
    instance: dg.DagsterInstance,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _app_db(sqlite_engine, monkeypatch)
    result = _run(instance, "nightly_metrics_job", "2026-11-28", limit=-3)
    _evaluate(instance, result)
    [payload] = webhook.received
    assert {k: payload[k] for k in ("job", "partition", "failed_users", "failure_codes")} == {
        "job": "nightly_metrics_job",
        "partition": "2026-11-28",
        "failed_users": 0,
        "failure_codes": {},
    }
    assert payload["failures"] == [] and payload["run_id"] == result.run_id
    assert payload["failure_description"] == (
        "user_behavior_metrics.nightly_plan: configuration error: "
        "limit must be a whole number ≥ 0 (0 processes nobody), got -3"
    )
    _assert_private(webhook)


def _timed_out_run(
    instance: dg.DagsterInstance,
    job_name: str = "weekly_reports_job",
    tags: dict[str, str] | None = None,
) -> Any:
    """A run failed from outside (run monitoring gave up on a lost run worker): no step
    ran, no metadata; the sensor context for it."""
    from fitness_jobs.definitions import build_definitions

    job = build_definitions().resolve_job_def(job_name)
    run = instance.create_run_for_job(job, tags=tags or {"dagster/partition": "2026-11-02"})
    event = instance.report_run_failed(run, message="Run timed out after 21600 seconds.")
    failed = instance.get_run_by_id(run.run_id)
    assert failed is not None
    return dg.build_run_status_sensor_context(
        sensor_name=SENSOR, dagster_instance=instance, dagster_run=failed, dagster_event=event
    )


def test_run_failed_outside_its_steps(
    webhook: Webhook,
    instance: dg.DagsterInstance,
    sqlite_engine: sa.Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _app_db(sqlite_engine, monkeypatch)
    context = _timed_out_run(instance)
    run_failure_alert_sensor(context)
    run_id = context.dagster_run.run_id
    assert webhook.received == [
        {
            "event": "run_failure",
            "job": "weekly_reports_job",
            "partition": "2026-11-02",
            "run_id": run_id,
            "run_url": f"http://127.0.0.1:3000/runs/{run_id}",
            "failed_users": 0,
            "failure_codes": {},
            "failures": [],
            "failures_omitted": 0,
            "failure_description": "Run timed out after 21600 seconds.",
        }
    ]
    _assert_private(webhook)


def test_a_range_run_names_its_partition_range(
    webhook: Webhook,
    instance: dg.DagsterInstance,
    sqlite_engine: sa.Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _app_db(sqlite_engine, monkeypatch)
    tags = {
        "dagster/asset_partition_range_start": "2026-11-01",
        "dagster/asset_partition_range_end": "2026-11-28",
    }
    run_failure_alert_sensor(_timed_out_run(instance, "nightly_metrics_job", tags))
    [payload] = webhook.received
    assert payload["job"] == "nightly_metrics_job"
    assert payload["partition"] == "2026-11-01...2026-11-28"


def test_daemon_style_ticks_alert_monitored_jobs_only(
    sqlite_engine: sa.Engine,
    webhook: Webhook,
    instance: dg.DagsterInstance,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """Evaluate the sensor as the daemon does (cursor over the instance's run-failure
    events): a failed nightly run alerts; a failed coverage run (not monitored) does not."""
    from fitness_jobs.definitions import build_definitions

    _app_db(sqlite_engine, monkeypatch)
    first = run_failure_alert_sensor.evaluate_tick(dg.build_sensor_context(instance=instance))
    assert "Initiating" in (first.skip_message or "")
    _failed_tz_users(sqlite_engine)
    nightly = _run(instance, "nightly_metrics_job", "2026-11-28")
    # A failed run of a job the sensor does not monitor (an app database without tables).
    monkeypatch.setenv("FITNESS_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.sqlite'}")
    coverage = (
        build_definitions()
        .resolve_job_def("weekly_report_coverage_job")
        .execute_in_process(instance=instance, partition_key="2026-11-02", raise_on_error=False)
    )
    assert not coverage.success
    tick = run_failure_alert_sensor.evaluate_tick(
        dg.build_sensor_context(instance=instance, cursor=first.cursor)
    )
    assert [r.dagster_run.run_id for r in tick.dagster_run_reactions or [] if r.dagster_run] == [
        nightly.run_id
    ]
    assert [p["run_id"] for p in webhook.received] == [nightly.run_id]
    assert webhook.received[0]["failure_codes"] == {"invalid_timezone": 1}


def test_without_a_webhook_the_evaluation_is_skipped_with_the_reason(
    sqlite_engine: sa.Engine,
    webhook: Webhook,
    instance: dg.DagsterInstance,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _app_db(sqlite_engine, monkeypatch)
    context = _timed_out_run(instance)
    monkeypatch.delenv(delivery.WEBHOOK_URL_ENV)
    skipped = run_failure_alert_sensor(context)
    assert isinstance(skipped, dg.SkipReason)
    assert skipped.skip_message == (
        "FITNESS_ALERT_WEBHOOK_URL is not set (nor Slack): "
        f"no alert sent for run {context.dagster_run.run_id} of weekly_reports_job"
    )
    assert webhook.received == []


def test_a_failed_delivery_is_retried_once_then_reported_without_the_url(
    sqlite_engine: sa.Engine,
    webhook: Webhook,
    instance: dg.DagsterInstance,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _app_db(sqlite_engine, monkeypatch)
    context = _timed_out_run(instance)
    webhook.status = 503
    with pytest.raises(AlertDeliveryError) as raised:
        run_failure_alert_sensor(context)
    assert len(webhook.received) == 2  # one retry
    assert str(raised.value) == (
        f"alert for run {context.dagster_run.run_id} of weekly_reports_job not delivered: "
        "webhook: HTTP 503"
    )
    # A client error is not retried; an unreachable receiver fails quickly.
    webhook.status = 400
    assert delivery.post_json(webhook.url, {"x": 1}) == "HTTP 400"
    assert len(webhook.received) == 3
    assert delivery.post_json("http://127.0.0.1:9/", {"x": 1}) == "ConnectionRefusedError"
    assert delivery.post_json("file:///etc/passwd", {}) == (
        "FITNESS_ALERT_WEBHOOK_URL is not an http(s) URL"
    )


def test_slack_message_through_dagster_slack(
    sqlite_engine: sa.Engine,
    webhook: Webhook,
    instance: dg.DagsterInstance,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _app_db(sqlite_engine, monkeypatch)
    _failed_tz_users(sqlite_engine)
    result = _run(instance, "nightly_metrics_job", "2026-11-28")
    posted: list[dict[str, Any]] = []

    def chat_post_message(self: WebClient, **kwargs: Any) -> None:
        posted.append({"token": self.token, "timeout": self.timeout, **kwargs})

    monkeypatch.setattr(WebClient, "chat_postMessage", chat_post_message)
    monkeypatch.setenv(delivery.SLACK_TOKEN_ENV, "xoxb-test-token")
    monkeypatch.setenv(delivery.SLACK_CHANNEL_ENV, "#fitness-alerts")
    _evaluate(instance, result)
    run_id = result.run_id
    assert posted == [
        {
            "token": "xoxb-test-token",
            "timeout": 5,
            "channel": "#fitness-alerts",
            "text": ":rotating_light: *nightly_metrics_job* 2026-11-28 failed · "
            "1 failed user(s): invalid_timezone ×1\n"
            f"<http://127.0.0.1:3000/runs/{run_id}|run {run_id[:8]}>",
        }
    ]
    assert len(webhook.received) == 1  # the webhook too

    # Slack alone (no webhook) is enough to alert; a Slack error is reported.
    monkeypatch.delenv(delivery.WEBHOOK_URL_ENV)

    def refuse(self: WebClient, **kwargs: Any) -> None:
        raise OSError("network is unreachable")

    monkeypatch.setattr(WebClient, "chat_postMessage", refuse)
    with pytest.raises(AlertDeliveryError, match=r"slack: OSError$"):
        _evaluate(instance, result)
    assert len(webhook.received) == 1


def test_scrub_drops_row_values_and_secrets() -> None:
    text = (
        "ValueError: weight 82.45 for jane.doe@example.com at postgresql+psycopg://u:pw@db/app "
        "rejected\nDETAIL: Failing row contains (7, 82.45)"
    )
    assert scrub(text) == "ValueError: weight <number> for <email> at <url> rejected"
    assert scrub("limit must be ≥ 0, got -3") == "limit must be ≥ 0, got -3"
    assert scrub("x" * 400).endswith("…") and len(scrub("x" * 400)) == 300


def test_merge_failures_sums_assets_and_caps_the_list() -> None:
    reports = [
        {
            "failed_users": 3,
            "failure_codes": {"invalid_timezone": 2, "compute_error:ValueError": 1},
            "failures": [
                {"code": "invalid_timezone", "message": "m", "users": 2, "sample_user_ids": [1]},
                {"code": "compute_error:ValueError", "message": "bad 71.3", "users": 1},
            ],
        },
        {
            "failed_users": 1,
            "failure_codes": {"invalid_timezone": 1},
            "failures": [{"code": "invalid_timezone", "message": "m", "users": 1}],
        },
    ]
    assert merge_failures(reports) == {
        "failed_users": 4,
        "failure_codes": {"compute_error:ValueError": 1, "invalid_timezone": 3},
        "failures": [
            {"code": "invalid_timezone", "message": "m", "users": 3},
            {"code": "compute_error:ValueError", "message": "bad <number>", "users": 1},
        ],
        "failures_omitted": 0,
    }
    many = [
        {
            "failed_users": 25,
            "failure_codes": {"compute_error:KeyError": 25},
            "failures": [
                {"code": "compute_error:KeyError", "message": f"key {i}", "users": 1}
                for i in range(25)
            ],
        }
    ]
    merged = merge_failures(many)
    assert len(merged["failures"]) == 20 and merged["failures_omitted"] == 5
