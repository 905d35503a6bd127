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
    _nightly_details(md, run.seconds)
    if usage is not None and usage.metadata:
        print(
            f"  coach usage {partition}: {usage.metadata.get('users_with_usage', 0)} users,"
            f" {usage.metadata.get('total_requests', 0)} requests"
        )
    print(f"  dagster run {run.run_id}")


def _table(header: list[str], rows: list[list[Any]]) -> None:
    """A compact right-aligned table, two spaces in, numbers with thousands separators."""
    cells = [header] + [[f"{v:,}" if isinstance(v, int) else str(v) for v in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for row in cells:
        print("  " + "  ".join(v.rjust(w) for v, w in zip(row, widths, strict=True)).rstrip())


def print_nightly_range(first: dt.date, last: dt.date, run: RunOutcome) -> None:
    """A range run: totals (user-days), one line per day, coach usage per day."""
    metrics = run.steps.get("user_behavior_metrics")
    usage = run.steps.get("coach_usage_daily")
    days_in_range = (last - first).days + 1
    print(f"nightly metrics · partitions {first} … {last} ({days_in_range} days, one run)")
    if metrics is None:
        return
    md = metrics.metadata
    if metrics.failure and not md:
        print(f"  FAILED: {metrics.failure}")
        return
    days: list[dict[str, Any]] = md.get("days") or []
    print(
        f"  active user-days {sum(d['active_users'] for d in days):,}"
        f" · written {sum(d['written'] for d in days):,}"
        f" · changed {sum(d['changed'] for d in days):,}"
        f" · failed users {md.get('failed_users', 0):,}"
    )
    usage_days: dict[str, Any] = (usage.metadata.get("days") or {}) if usage else {}
    _table(
        ["day", "active", "written", "changed", "failed", "coach requests"],
        [
            [
                d["partition"],
                d["active_users"],
                d["written"],
                d["changed"],
                d["failed"],
                usage_days.get(d["partition"], {}).get("total_requests", "-"),
            ]
            for d in days
        ],
    )
    superseded = sum(d.get("superseded", 0) for d in days)
    if superseded:
        print(f"  {superseded} row(s) superseded by a later day with the same local date")
    _nightly_details(md, run.seconds)
    print(f"  dagster run {run.run_id}")


def print_weekly_range(first: dt.date, last: dt.date, run: RunOutcome) -> None:
    """A catch-up run over weeks: totals, then one line per week."""
    reports = run.steps.get("weekly_reports")
    print(f"weekly reports · weeks {first} … {last} (catch_up, one run)", end="")
    if reports is None:
        print()
        return
    md = reports.metadata
    if reports.failure and not md:
        print(f"\n  FAILED: {reports.failure}")
        return
    weeks: list[dict[str, Any]] = md.get("weeks") or []
    print(
        f" · due {sum(w['to_generate'] for w in weeks):,}"
        f" · written {sum(w['written'] for w in weeks):,}"
        f" · already had one {sum(w['already_reported'] for w in weeks):,}"
        f" · failed users {md.get('failed_users', 0):,}"
    )
    _table(
        ["week", "due", "written", "already had one", "failed"],
        [
            [w["week"], w["to_generate"], w["written"], w["already_reported"], w["failed"]]
            for w in weeks
        ],
    )
    _excluded(md)
    _failed(md)
    print(f"  dagster run {run.run_id} ({run.seconds:.1f}s)")


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


def _nightly_details(md: dict[str, Any], seconds: float) -> None:
    """Excluded rows, time-zone fallbacks, phase timings and failures of a nightly run."""
    _excluded(md)
    print(
        f"  time zones: {md.get('timezone_null_fallback', 0)} NULL→UTC,"
        f" {md.get('timezone_case_normalized', 0)} case-normalised,"
        f" {md.get('timezone_invalid', 0)} invalid"
    )
    timings = ", ".join(
        f"{p} {md.get(p + '_seconds', 0):.2f}s" for p in ("read", "validate", "compute", "write")
    )
    print(f"  timings: {timings} (run {seconds:.1f}s)")
    _failed(md)
