"""Glue shared by the nightly and weekly definitions."""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, TypeVar

import dagster as dg
import sqlalchemy as sa

from fitness_jobs.core.isolation import SystematicFailure, first_line, short_traceback
from fitness_jobs.db.isolated_writes import is_transient
from fitness_jobs.db.locks import LockTimeout
from fitness_jobs.errors import ConfigurationError
from fitness_jobs.pipelines import Log
from fitness_jobs.pipelines.runner import PHASES, RunReport

T = TypeVar("T")

APP_DB_POOL = "app_database"
NO_FAILED_USERS = "no_failed_users"


class ConfigurationFailure(dg.Failure):
    """A step failure caused by a :class:`ConfigurationError` (never retried). The command
    line recognises it by this type in the step's error and exits with code 2."""


RETRY_DELAY_ENV = "FITNESS_RETRY_DELAY_SECONDS"
DEFAULT_RETRY_DELAY_S = 15.0


def retry_delay_seconds() -> float:
    """The first retry delay (``FITNESS_RETRY_DELAY_SECONDS``, default 15 s; tests set it
    small).  Read once, when this module is imported."""
    raw = os.environ.get(RETRY_DELAY_ENV)
    try:
        return max(0.0, float(raw)) if raw else DEFAULT_RETRY_DELAY_S
    except ValueError:
        return DEFAULT_RETRY_DELAY_S


# Transient database trouble (lost connection, lock timeout) is retried with
# exponential backoff and jitter; everything else fails at once (see run_or_fail).
DB_RETRY_POLICY = dg.RetryPolicy(
    max_retries=3,
    delay=retry_delay_seconds(),
    backoff=dg.Backoff.EXPONENTIAL,
    jitter=dg.Jitter.PLUS_MINUS,
)


def run_or_fail(work: Callable[[], T]) -> T:
    """Run ``work``; let transient database errors through to the retry policy and turn
    anything else into a ``dg.Failure`` that is not retried (a bug, bad configuration, a
    systematic failure or a partition lock held too long do not get better by waiting)."""
    try:
        return work()
    except ConfigurationError as exc:
        raise ConfigurationFailure(
            description=f"configuration error: {exc}", allow_retries=False
        ) from exc
    except (SystematicFailure, LockTimeout) as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from exc
    except sa.exc.SQLAlchemyError as exc:
        if is_transient(exc):
            raise
        raise dg.Failure(
            description=f"database error: {first_line(exc)}",
            metadata={"traceback": dg.MetadataValue.text(short_traceback(exc))},
            allow_retries=False,
        ) from exc
    except Exception as exc:
        raise dg.Failure(
            description=f"{type(exc).__name__}: {first_line(exc)}",
            metadata={"traceback": dg.MetadataValue.text(short_traceback(exc))},
            allow_retries=False,
        ) from exc


def dagster_log(context: dg.AssetExecutionContext) -> Log:
    def log(level: str, message: str) -> None:
        getattr(context.log, level if level in ("debug", "info", "warning", "error") else "info")(
            message
        )

    return log


def progress_logger(log: Log) -> Callable[[int, int], None]:
    """Log ``processed done/total users (pct, elapsed, ~left)`` after each chunk."""
    started = time.monotonic()

    def progress(done: int, total: int) -> None:
        elapsed = time.monotonic() - started
        left = elapsed / done * (total - done) if done else 0.0
        pct = 100.0 * done / total if total else 100.0
        log(
            "info",
            f"processed {done:,}/{total:,} users ({pct:.0f}%, {elapsed:.1f}s, ~{left:.0f}s left)",
        )

    return progress


def failure_metadata(report: RunReport, limit: int = 500) -> dict[str, Any]:
    """Failed users by id and error code (never emails), the first ``limit`` listed, and
    each distinct failure with its message, count and sample ids."""
    failed = report.failed
    shown = sorted(failed.items())[:limit]
    return {
        "failed_users": len(failed),
        "failure_codes": dg.MetadataValue.json(dict(Counter(failed.values()))),
        "failed_user_ids": dg.MetadataValue.json(
            [{"user_id": uid, "error": code} for uid, code in shown]
        ),
        "failures": dg.MetadataValue.json(
            [
                {
                    "code": f.code,
                    "message": f.message,
                    "users": f.users,
                    "sample_user_ids": f.sample_user_ids,
                }
                for f in report.distinct_failures()
            ]
        ),
    }


def failure_check(report: RunReport, asset_key: dg.AssetKey | None = None) -> dg.AssetCheckResult:
    """The blocking ``no_failed_users`` check: fails the run when any user failed."""
    return dg.AssetCheckResult(
        asset_key=asset_key,
        check_name=NO_FAILED_USERS,
        passed=not report.errors,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata=failure_metadata(report),
    )


def phase_metadata(report: RunReport) -> dict[str, Any]:
    """Seconds per phase (read, validate, compute, write), chunks, bisections, lock wait."""
    return {
        **{f"{phase}_seconds": round(report.timings.get(phase, 0.0), 3) for phase in PHASES},
        "chunks": report.chunks,
        "bisections": report.bisections,
        "lock_wait_seconds": round(report.lock_wait_s, 3),
    }
