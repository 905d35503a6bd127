"""Executing a job of the code location in-process on the project's Dagster instance, and
reading its outcome: materialisation metadata per asset, failures, the exit code.

Configuration errors are recognised by exception type: an asset raises
``fitness_jobs.defs.common.ConfigurationFailure`` (a ``dg.Failure``) from a
``fitness_jobs.errors.ConfigurationError``; the step failure event carries the class
names of the error and of its causes (``SerializableErrorInfo.cls_name``), and any of
those two families anywhere in the chain means exit code 2.  The message text is never
parsed.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

import dagster as dg

from fitness_jobs.cli.errors import EXIT_OK, EXIT_USAGE, EXIT_USER_FAILED
from fitness_jobs.cli.instance import dagster_instance
from fitness_jobs.cli.reaper import cli_run_tags, reap_dead_cli_runs
from fitness_jobs.errors import ConfigurationError

if TYPE_CHECKING:
    from dagster._utils.error import SerializableErrorInfo


def resolve_job(name: str) -> dg.JobDefinition:
    """A job of the code location, built now (the app database URL is read from the
    environment at this moment)."""
    from fitness_jobs.definitions import build_definitions

    return build_definitions().resolve_job_def(name)


def partition_keys(job: dg.JobDefinition, now: dt.datetime) -> list[str]:
    """The job's partition keys that exist at ``now``."""
    partitions = job.partitions_def
    if partitions is None:
        return []
    if isinstance(partitions, dg.TimeWindowPartitionsDefinition):
        return list(partitions.get_partition_keys(current_time=now))
    return list(partitions.get_partition_keys())


@dataclass
class StepOutcome:
    materialized: bool
    metadata: dict[str, Any]
    failure: str | None = None
    configuration_error: bool = False

    @property
    def success(self) -> bool:
        return self.failure is None


@dataclass
class RunOutcome:
    run_id: str
    success: bool
    started_at: dt.datetime
    finished_at: dt.datetime
    seconds: float
    steps: dict[str, StepOutcome] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        """2 for a configuration error, 1 if any user or step (or the run) failed, else 0.
        Steps that materialise nothing (asset-check ops) are judged by failure only."""
        if any(s.configuration_error for s in self.steps.values()):
            return EXIT_USAGE
        if any(int(s.metadata.get("failed_users", 0) or 0) for s in self.steps.values()):
            return EXIT_USER_FAILED
        if not self.success or any(not s.success for s in self.steps.values()):
            return EXIT_USER_FAILED
        return EXIT_OK


def _family(cls: type[Any]) -> Iterator[type[Any]]:
    yield cls
    for sub in cls.__subclasses__():
        yield from _family(sub)


@cache
def _configuration_class_names() -> frozenset[str]:
    from fitness_jobs.defs.common import ConfigurationFailure

    return frozenset(
        c.__name__ for root in (ConfigurationFailure, ConfigurationError) for c in _family(root)
    )


def is_configuration_failure(error: SerializableErrorInfo | None) -> bool:
    """Whether a step's error, or any error in its cause/context chain, is a
    ConfigurationFailure or a ConfigurationError (or a subclass of either)."""
    names = _configuration_class_names()
    pending = [error]
    while pending:
        info = pending.pop()
        if info is None:
            continue
        if info.cls_name in names:
            return True
        pending += [info.cause, info.context]
    return False


def run_job(
    job: dg.JobDefinition,
    *,
    partition_key: str | None = None,
    op_config: dict[str, dict[str, Any]] | None = None,
    log_level: str = "INFO",
    tags: dict[str, str] | None = None,
) -> RunOutcome:
    """Execute ``job`` (for one partition) in-process on the project's instance (so the run
    is in the UI's history), after failing the runs of CLI processes that died."""
    run_config: dict[str, Any] = {"loggers": {"console": {"config": {"log_level": log_level}}}}
    if op_config:
        run_config["ops"] = {name: {"config": cfg} for name, cfg in op_config.items()}
    started_at = dt.datetime.now(dt.UTC)
    started = time.perf_counter()
    with dagster_instance() as instance:
        reap_dead_cli_runs(instance)
        result = job.execute_in_process(
            instance=instance,
            partition_key=partition_key,
            run_config=run_config,
            raise_on_error=False,
            tags={**cli_run_tags(), **(tags or {})},
        )
    outcome = RunOutcome(
        run_id=result.run_id,
        success=result.success,
        started_at=started_at,
        finished_at=dt.datetime.now(dt.UTC),
        seconds=time.perf_counter() - started,
    )
    failures: dict[str, tuple[str, bool]] = {}
    for event in result.all_events:
        if not (event.is_step_failure and event.step_key):
            continue
        data = event.step_failure_data
        error = data.error if data is not None else None
        user_failure = data.user_failure_data if data is not None else None
        text = (user_failure.description if user_failure is not None else None) or (
            error.message.strip() if error is not None else "step failed"
        )
        # A graph-backed asset's steps ("user_behavior_metrics.nightly_part[part_1_of_2]")
        # belong to its node: the first configuration error, else the first failure.
        owner = event.step_key.split(".", 1)[0].split("[", 1)[0]
        configuration = is_configuration_failure(error)
        if owner not in failures or (configuration and not failures[owner][1]):
            failures[owner] = (text, configuration)
    for node in result.job_def.nodes_in_topological_order:
        mats = result.asset_materializations_for_node(node.name)
        failure, configuration = failures.get(node.name, (None, False))
        outcome.steps[node.name] = StepOutcome(
            materialized=bool(mats),
            metadata={k: v.value for k, v in mats[-1].metadata.items()} if mats else {},
            failure=failure,
            configuration_error=configuration,
        )
    return outcome
