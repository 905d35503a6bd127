"""The GraphQL operations the UI uses, against a live webserver and daemon.

Shapes are those of the installed ``dagster_graphql`` schema (``launchRun``,
``launchPartitionBackfill``, ``runOrError``, ``partitionBackfillOrError``,
``startSensor``, ``sensorOrError``, ``workspaceOrError``, ``instance.daemonHealth``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fitness_jobs_tests.live.services import GraphQL, Service, wait_for

LOCATION = "fitness_jobs"
REPOSITORY = "__repository__"
REPOSITORY_SELECTOR = {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY}

RUN_FINISHED = {"SUCCESS", "FAILURE", "CANCELED"}
BACKFILL_FINISHED = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}

WORKSPACE = """
query Workspace {
  workspaceOrError {
    __typename
    ... on Workspace {
      locationEntries {
        name
        loadStatus
        locationOrLoadError {
          __typename
          ... on RepositoryLocation { repositories { name } }
          ... on PythonError { message stack }
        }
      }
    }
    ... on PythonError { message stack }
  }
}
"""

DAEMON_HEALTH = """
query DaemonHealth {
  instance {
    daemonHealth {
      allDaemonStatuses {
        daemonType
        required
        healthy
        lastHeartbeatErrors { message }
      }
    }
  }
}
"""

LAUNCH_RUN = """
mutation LaunchRun($executionParams: ExecutionParams!) {
  launchRun(executionParams: $executionParams) {
    __typename
    ... on LaunchRunSuccess { run { runId status } }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on PythonError { message stack }
    ... on Error { message }
  }
}
"""

RUN_STATUS = """
query RunStatus($runId: ID!) {
  runOrError(runId: $runId) {
    __typename
    ... on Run { runId status }
    ... on Error { message }
  }
}
"""

RUN_DETAILS = """
query RunDetails($runId: ID!) {
  runOrError(runId: $runId) {
    __typename
    ... on Run {
      runId
      jobName
      status
      tags { key value }
      assetMaterializations {
        assetKey { path }
        partition
        metadataEntries { label ... on IntMetadataEntry { intValue } }
      }
    }
    ... on Error { message }
  }
}
"""

RUN_ERRORS = """
query RunErrors($runId: ID!) {
  logsForRun(runId: $runId) {
    __typename
    ... on EventConnection {
      events {
        __typename
        ... on MessageEvent { level message stepKey }
        ... on ErrorEvent { error { message stack } }
      }
    }
    ... on Error { message }
  }
}
"""

LAUNCH_BACKFILL = """
mutation LaunchBackfill($backfillParams: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $backfillParams) {
    __typename
    ... on LaunchBackfillSuccess { backfillId launchedRunIds }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on PythonError { message stack }
    ... on Error { message }
  }
}
"""

BACKFILL = """
query Backfill($backfillId: String!) {
  partitionBackfillOrError(backfillId: $backfillId) {
    __typename
    ... on PartitionBackfill {
      id
      status
      partitionSetName
      partitionNames
      numPartitions
      error { message stack }
      runs { runId status tags { key value } }
    }
    ... on Error { message }
  }
}
"""

START_SENSOR = """
mutation StartSensor($sensorSelector: SensorSelector!) {
  startSensor(sensorSelector: $sensorSelector) {
    __typename
    ... on Sensor { name sensorState { status } }
    ... on PythonError { message stack }
    ... on Error { message }
  }
}
"""

SENSOR_TICKS = """
query SensorTicks($sensorSelector: SensorSelector!) {
  sensorOrError(sensorSelector: $sensorSelector) {
    __typename
    ... on Sensor {
      name
      minIntervalSeconds
      sensorState {
        status
        ticks(limit: 5) {
          tickId
          status
          timestamp
          endTimestamp
          skipReason
          runIds
          runKeys
          error { message stack }
        }
      }
    }
    ... on Error { message }
  }
}
"""


def tag_map(entity: dict[str, Any]) -> dict[str, str]:
    return {t["key"]: t["value"] for t in entity.get("tags") or []}


def int_metadata(materialization: dict[str, Any]) -> dict[str, int]:
    return {
        e["label"]: e["intValue"]
        for e in materialization["metadataEntries"]
        if e.get("intValue") is not None
    }


@dataclass
class LiveDagster:
    """A running webserver + daemon pair on one instance, and the UI's operations."""

    web: Service
    daemon: Service
    port: int
    home: Path
    gql: GraphQL

    # ------------------------------------------------------------------ diagnosis

    def logs(self) -> str:
        return f"{self.web.logs()}\n{self.daemon.logs()}"

    def require_running(self) -> None:
        for service in (self.web, self.daemon):
            if service.exited() is not None:
                raise AssertionError(f"{service.name} exited early\n{self.logs()}")

    def fail(self, message: str, payload: Any = None) -> AssertionError:
        dumped = "" if payload is None else json.dumps(payload, indent=1)[:6000]
        return AssertionError(f"{message}\n{dumped}\n{self.logs()}")

    def _wait(self, probe: Any, *, timeout_s: float, what: str, interval_s: float = 1.0) -> Any:
        def checked() -> Any:
            self.require_running()
            return probe()

        return wait_for(
            checked, timeout_s=timeout_s, what=what, interval_s=interval_s, describe=self.logs
        )

    # ------------------------------------------------------------------ readiness

    def location_loaded(self) -> bool | None:
        workspace = self.gql(WORKSPACE)["workspaceOrError"]
        if workspace["__typename"] != "Workspace":
            raise self.fail("workspace failed to load", workspace)
        for entry in workspace["locationEntries"]:
            if entry["name"] != LOCATION or entry["loadStatus"] != "LOADED":
                continue
            location = entry["locationOrLoadError"]
            if location and location["__typename"] == "RepositoryLocation":
                return True
            raise self.fail("code location failed to load", location)
        return None

    def daemons_healthy(self) -> bool | None:
        statuses = self.gql(DAEMON_HEALTH)["instance"]["daemonHealth"]["allDaemonStatuses"]
        required = [s for s in statuses if s["required"]]
        return True if required and all(s["healthy"] for s in required) else None

    def wait_ready(self, timeout_s: float) -> None:
        self._wait(self.location_loaded, timeout_s=timeout_s, what="code location loaded")
        self._wait(self.daemons_healthy, timeout_s=timeout_s, what="all daemons healthy")

    # ------------------------------------------------------------------ runs

    def launch_run(self, job: str, partition: str) -> str:
        """``launchRun`` of one partition of ``job`` with its default run config."""
        params = {
            "selector": {**REPOSITORY_SELECTOR, "jobName": job},
            "executionMetadata": {"tags": [{"key": "dagster/partition", "value": partition}]},
        }
        result = self.gql(LAUNCH_RUN, {"executionParams": params})["launchRun"]
        if result["__typename"] != "LaunchRunSuccess":
            raise self.fail(f"launchRun {job} [{partition}] failed", result)
        return str(result["run"]["runId"])

    def run_status(self, run_id: str) -> str:
        run = self.gql(RUN_STATUS, {"runId": run_id})["runOrError"]
        if run["__typename"] != "Run":
            raise self.fail(f"runOrError {run_id}", run)
        return str(run["status"])

    def run_errors(self, run_id: str) -> list[dict[str, Any]]:
        logs = self.gql(RUN_ERRORS, {"runId": run_id})["logsForRun"]
        events = logs.get("events") or []
        return [e for e in events if e.get("level") in ("ERROR", "CRITICAL") or e.get("error")]

    def run_details(self, run_id: str) -> dict[str, Any]:
        run: dict[str, Any] = self.gql(RUN_DETAILS, {"runId": run_id})["runOrError"]
        return run

    def wait_run_success(self, run_id: str, timeout_s: float) -> dict[str, Any]:
        seen: list[str] = []

        def probe() -> str | None:
            seen.append(self.run_status(run_id))
            return seen[-1] if seen[-1] in RUN_FINISHED else None

        try:
            status = self._wait(probe, timeout_s=timeout_s, what=f"run {run_id} to finish")
        except AssertionError as exc:
            raise AssertionError(f"last status {seen[-1:]}: {exc}") from None
        if status != "SUCCESS":
            raise self.fail(f"run {run_id} ended {status}; error events:", self.run_errors(run_id))
        return self.run_details(run_id)

    # ------------------------------------------------------------------ backfills

    def launch_backfill(self, partition_set: str, partitions: Sequence[str]) -> str:
        """``launchPartitionBackfill`` of a job's partitions (the daemon submits the runs)."""
        params = {
            "selector": {
                "partitionSetName": partition_set,
                "repositorySelector": REPOSITORY_SELECTOR,
            },
            "partitionNames": list(partitions),
        }
        result = self.gql(LAUNCH_BACKFILL, {"backfillParams": params})["launchPartitionBackfill"]
        if result["__typename"] != "LaunchBackfillSuccess":
            raise self.fail(f"launchPartitionBackfill {partition_set} {partitions} failed", result)
        return str(result["backfillId"])

    def backfill(self, backfill_id: str) -> dict[str, Any]:
        backfill: dict[str, Any] = self.gql(BACKFILL, {"backfillId": backfill_id})[
            "partitionBackfillOrError"
        ]
        if backfill["__typename"] != "PartitionBackfill":
            raise self.fail(f"partitionBackfillOrError {backfill_id}", backfill)
        return backfill

    def wait_backfill_finished(self, backfill_id: str, timeout_s: float) -> dict[str, Any]:
        """The backfill once the daemon has marked it finished (whatever the outcome)."""
        last: dict[str, Any] = {}

        def probe() -> dict[str, Any] | None:
            last.update(self.backfill(backfill_id))
            return dict(last) if last["status"] in BACKFILL_FINISHED else None

        try:
            backfill: dict[str, Any] = self._wait(
                probe, timeout_s=timeout_s, what=f"backfill {backfill_id}", interval_s=2.0
            )
        except AssertionError as exc:
            raise self.fail(f"{exc}\nlast state of backfill {backfill_id}:", last) from None
        failed = [r["runId"] for r in backfill["runs"] if r["status"] != "SUCCESS"]
        if backfill["status"] != "COMPLETED_SUCCESS" or failed:
            errors = {run_id: self.run_errors(run_id) for run_id in failed}
            raise self.fail(
                f"backfill {backfill_id} ended {backfill['status']}; runs not SUCCESS: {failed}",
                {"backfill": backfill, "run_errors": errors},
            )
        return backfill

    # ------------------------------------------------------------------ sensors

    def sensor_selector(self, sensor: str) -> dict[str, str]:
        return {**REPOSITORY_SELECTOR, "sensorName": sensor}

    def start_sensor(self, sensor: str) -> None:
        result = self.gql(START_SENSOR, {"sensorSelector": self.sensor_selector(sensor)})[
            "startSensor"
        ]
        if result["__typename"] != "Sensor" or result["sensorState"]["status"] != "RUNNING":
            raise self.fail(f"startSensor {sensor} failed", result)

    def sensor(self, sensor: str) -> dict[str, Any]:
        result: dict[str, Any] = self.gql(
            SENSOR_TICKS, {"sensorSelector": self.sensor_selector(sensor)}
        )["sensorOrError"]
        if result["__typename"] != "Sensor":
            raise self.fail(f"sensorOrError {sensor}", result)
        return result

    def wait_first_tick(self, sensor: str, timeout_s: float) -> dict[str, Any]:
        """The sensor's first finished tick (not STARTED: still evaluating)."""

        def probe() -> dict[str, Any] | None:
            ticks = self.sensor(sensor)["sensorState"]["ticks"]
            done = [t for t in ticks if t["status"] != "STARTED"]
            return min(done, key=lambda t: t["timestamp"]) if done else None

        tick: dict[str, Any] = self._wait(
            probe, timeout_s=timeout_s, what=f"a tick of {sensor}", interval_s=1.0
        )
        return tick
