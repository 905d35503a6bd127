"""What the command line prints: one-screen run summaries on stdout, progress and errors
on stderr, and (only with ``--show-sample``) one sample report.

Summaries hold counts, timings, and failed users by id and error code; never emails,
weights or predictions of a user.
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

from fitness_jobs.cli.run import RunOutcome


def err(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def progress_printer(prefix: str) -> Callable[[str, int, int], None]:
    """``progress(table, done, total)`` printing at most two lines a second, and the last."""
    last = [0.0]

    def progress(table: str, done: int, total: int) -> None:
        now = time.monotonic()
        if done >= total or now - last[0] > 0.5:
            last[0] = now
            err(f"{prefix} {table}: {done:,}/{total:,} rows")

    return progress


def _excluded(md: Mapping[str, Any]) -> None:
    excluded = md.get("excluded_rows") or {}
    if excluded:
        print("  excluded rows: " + ", ".join(f"{k} {v}" for k, v in sorted(excluded.items())))


def _failed(md: Mapping[str, Any]) -> None:
    """Failed users by id and error code (never emails), the first ten."""
    failed = md.get("failed_user_ids") or []
    if failed:
        shown = ", ".join(f"{f['user_id']} ({f['error']})" for f in failed[:10])
        more = f" and {len(failed) - 10} more" if len(failed) > 10 else ""
        print(f"  failed users: {shown}{more}")


def print_nightly(partition: str, run: RunOutcome) -> None:
    metrics = run.steps.get("user_behavior_metrics")
    usage = run.steps.get("coach_usage_daily")
    print(f"nightly metrics · partition {partition} (snapshot {partition} 24:00 UTC)")
    if metrics is None:
        return
    md = metrics.metadata
    if metrics.failure and not md:
        print(f"  FAILED: {metrics.failure}")
        return
    print(
        f"  active users {md.get('active_users', 0):,} · written {md.get('written_users', 0):,}"
        f" · changed {md.get('rows_changed', 0):,} · failed {md.get('failed_users', 0):,}"
    )
    _excluded(md)
    print(
        f"  time zones: {md.get('timezone_null_fallback', 0)} NULL→UTC,"
        f" {md.get('timezone_case_normalized', 0)} case-normalised,"
        f" {md.get('timezone_invalid', 0)} invalid"
    )
    timings = ", ".join(
        f"{p} {md.get(p + '_seconds', 0):.2f}s" for p in ("read", "validate", "compute", "write")
    )
    print(f"  timings: {timings} (run {run.seconds:.1f}s)")
    _failed(md)
    if usage is not None and usage.metadata:
        print(
            f"  coach usage {partition}: {usage.metadata.get('users_with_usage', 0)} users,"
            f" {usage.metadata.get('total_requests', 0)} requests"
        )
    print(f"  dagster run {run.run_id}")


def print_weekly(week: dt.date, mode: str, run: RunOutcome) -> None:
    reports = run.steps.get("weekly_reports")
    print(f"weekly reports · week {week.isoformat()} ({mode})", end="")
    if reports is None:
        print()
        return
    md = reports.metadata
    if reports.failure and not md:
        print(f"\n  FAILED: {reports.failure}")
        return
    print(
        f" · due {md.get('to_generate', 0):,}"
        f" · written {md.get('written_reports', 0):,}"
        f" · already had one {md.get('already_reported', 0):,}"
        f" · failed {md.get('failed_users', 0):,}"
    )
    status = md.get("prediction_status") or {}
    if status:
        print("  predictions: " + ", ".join(f"{k} {v}" for k, v in sorted(status.items())))
    _excluded(md)
    _failed(md)
    print(f"  dagster run {run.run_id} ({run.seconds:.1f}s)")


def print_nothing_due(at: dt.datetime) -> None:
    print(
        f"weekly reports · {at.isoformat(timespec='minutes')}: no time zone is inside its "
        "Monday 03:00–06:00 window, nothing to do"
    )


def print_sample(week: dt.date, row: Mapping[str, Any] | None) -> None:
    """One report row of the app database, rendered (``--show-sample`` only)."""
    from fitness_jobs.core.report import report_markdown

    print()
    if row is None:
        print(
            "sample report: this run wrote no report, so there is none to show (to see one: "
            f"fitness-jobs weekly --week {week} --regenerate --user-id ID --show-sample)"
        )
        return
    print(f"sample report · user {row.get('user_id')} (read from the app database)")
    print()
    print(report_markdown(row), end="")
