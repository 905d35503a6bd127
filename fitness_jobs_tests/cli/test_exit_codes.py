"""A configuration error is recognised by its exception type, never by its message."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
from dagster._utils.error import SerializableErrorInfo

from fitness_jobs.cli.run import is_configuration_failure, run_job
from fitness_jobs.db.engine import DatabaseConfigError
from fitness_jobs.defs.common import ConfigurationFailure
from fitness_jobs.errors import ConfigurationError


def _job(*, raises: BaseException) -> dg.JobDefinition:
    @dg.asset(name="probe")
    def probe() -> None:
        raise raises

    return dg.Definitions(
        assets=[probe], jobs=[dg.define_asset_job("probe_job", selection=[probe])]
    ).resolve_job_def("probe_job")


@pytest.mark.parametrize(
    ("raised", "code"),
    [
        # any wording: the type decides
        (ConfigurationFailure(description="nothing hints at it", allow_retries=False), 2),
        (ConfigurationError("raised raw inside an asset"), 2),
        (DatabaseConfigError("a subclass"), 2),
        # the old prefix without the type is an ordinary failure
        (dg.Failure(description="configuration error: looks like one", allow_retries=False), 1),
        (ValueError("configuration error: also not one"), 1),
    ],
)
def test_exit_code_by_exception_type(dagster_home: Path, raised: BaseException, code: int) -> None:
    outcome = run_job(_job(raises=raised), log_level="CRITICAL")
    assert not outcome.success
    assert outcome.steps["probe"].failure
    assert outcome.exit_code == code


def test_a_successful_run_is_exit_0(dagster_home: Path) -> None:
    @dg.asset(name="fine")
    def fine() -> dg.MaterializeResult:
        return dg.MaterializeResult(metadata={"failed_users": 0})

    job = dg.Definitions(
        assets=[fine], jobs=[dg.define_asset_job("fine_job", selection=[fine])]
    ).resolve_job_def("fine_job")
    assert run_job(job, log_level="CRITICAL").exit_code == 0


def _info(cls_name: str, cause: SerializableErrorInfo | None = None) -> SerializableErrorInfo:
    return SerializableErrorInfo(message=f"{cls_name}: x", stack=[], cls_name=cls_name, cause=cause)


def test_the_cause_chain_is_searched() -> None:
    assert is_configuration_failure(_info("ConfigurationFailure"))
    assert is_configuration_failure(
        _info("DagsterExecutionStepExecutionError", _info("CliUsageError"))
    )
    assert not is_configuration_failure(_info("Failure", _info("KeyError")))
    assert not is_configuration_failure(None)
