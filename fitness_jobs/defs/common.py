"""Glue shared by the nightly and weekly definitions."""

from __future__ import annotations

import time
import traceback
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import dagster as dg
import pandas as pd
import sqlalchemy as sa

from fitness_jobs.db.bulk import is_transient
from fitness_jobs.db.engine import DatabaseConfigError
from fitness_jobs.db.locks import LockTimeout
from fitness_jobs.pipelines import Log, UsageError

T = TypeVar("T")

APP_DB_POOL = "app_database"
NO_FAILED_USERS = "no_failed_users"
# Failure descriptions starting with this mean bad configuration (CLI exit code 2).
CONFIGURATION_ERROR = "configuration error"

# Transient database trouble (lost connection, lock timeout) is retried with
# exponential backoff and jitter; everything else fails at once (see run_or_fail).
DB_RETRY_POLICY = dg.RetryPolicy(
    max_retries=3,
    delay=15,
    backoff=dg.Backoff.EXPONENTIAL,
    jitter=dg.Jitter.PLUS_MINUS,
)


def run_or_fail(work: Callable[[], T]) -> T:
    """Run ``work``; let transient database errors through to the retry policy and turn
    anything else into a ``dg.Failure`` that is not retried (a bug or bad configuration
    does not get better by waiting)."""
    try:
        return work()
    except LockTimeout:
        raise
    except sa.exc.SQLAlchemyError as exc:
        if is_transient(exc):
            raise
        raise dg.Failure(
            description=f"database error: {type(exc).__name__}: {getattr(exc, 'orig', exc)}",
            metadata={"traceback": dg.MetadataValue.text(traceback.format_exc())},
            allow_retries=False,
        ) from exc
    except (UsageError, DatabaseConfigError) as exc:
        raise dg.Failure(description=f"{CONFIGURATION_ERROR}: {exc}", allow_retries=False) from exc
    except Exception as exc:
        raise dg.Failure(
            description=f"{type(exc).__name__}: {exc}",
            metadata={"traceback": dg.MetadataValue.text(traceback.format_exc())},
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


def failure_metadata(failed: dict[int, str], limit: int = 500) -> dict[str, Any]:
    """Failed users by id and error code (never emails); the first ``limit`` listed."""
    shown = sorted(failed.items())[:limit]
    return {
        "failed_users": len(failed),
        "failure_codes": dg.MetadataValue.json(dict(Counter(failed.values()))),
        "failed_user_ids": dg.MetadataValue.json(
            [{"user_id": uid, "error": code} for uid, code in shown]
        ),
    }


def markdown_table(frame: pd.DataFrame, columns: Sequence[str]) -> str:
    cols = [c for c in columns if c in frame.columns]
    lines = [" | ".join(cols), " | ".join("---" for _ in cols)]
    for row in frame[cols].itertuples(index=False):
        cells = []
        for value in row:
            if isinstance(value, float):
                cells.append("" if pd.isna(value) else f"{value:.3g}")
            else:
                cells.append(str(value))
        lines.append(" | ".join(cells))
    return "\n".join(lines)
