"""The weekly report + transformation prediction run for one reported week (design §2, §6–§8).

Week partition ``W`` (a Monday) covers local dates ``W … W+6``; a user's report is due
in their local window Monday ``W+7`` 03:00 ≤ t < 06:00 (``core.windows``).

Modes:
- **window**: at a reference instant ``at``, the eligible users whose local time is
  inside their window and who have no report yet;
- **catch_up**: every eligible user of ``W`` whose local week has ended and who has no
  report, whatever the clock (UI backfills, ``fitness-jobs weekly --week W``).
- **regenerate**: with either mode, rewrite existing reports (all, or given user ids).

Exactly once per (user, week): the report row is inserted with ``ON CONFLICT DO
NOTHING``: the insert *is* the claim, and the prediction is written in the same
transaction only for the users whose report was claimed.  A per-week lock keeps two
runs of the same week from interleaving.  Chunks go through the shared runner
(``pipelines.weekly_chunk`` has the weekly job's part of it).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from fitness_jobs.core.isolation import UserError
from fitness_jobs.core.windows import (
    Mode,
    latest_complete_week,
    week_in_window_span,
    week_starts,
)
from fitness_jobs.db import personal_bests
from fitness_jobs.db import weekly as queries
from fitness_jobs.db.bulk import chunked
from fitness_jobs.db.engine import require_tables
from fitness_jobs.db.locks import partition_lock
from fitness_jobs.errors import ConfigurationError
from fitness_jobs.pipelines import Log, Progress, log_failures, no_log, no_progress
from fitness_jobs.pipelines.runner import (
    VALIDATION_MESSAGES,
    RunReport,
    run_chunks,
)
from fitness_jobs.pipelines.weekly_chunk import (  # noqa: F401  (re-exported)
    PREDICTIONS_TABLE,
    REPORTS_TABLE,
    WEEKLY_TABLES,
    WeeklyChunk,
)
from fitness_jobs.pipelines.weekly_due import (  # noqa: F401  (re-exported)
    due_users,
    missing_reports,
    report_rows,
    sensor_due_count,
    zones_in_window,
)

# Fewer, larger chunks pay the per-chunk costs (a pass over each zone, the queries'
# planning) fewer times: at 100k users, 4,000 took 20.9 s on average against 21.8 s for
# 2,000 (three alternating runs), for about 190 MB more at the peak (610 MB).
DEFAULT_CHUNK_SIZE = 4_000


@dataclass
class WeeklyReportRun(RunReport):
    """What one weekly run did; becomes Dagster metadata and the CLI summary."""

    week_start: dt.date = dt.date.min
    mode: Mode = "catch_up"
    at: dt.datetime = dt.datetime.min
    regenerate: bool = False
    eligible_users: int = 0
    due_users: int = 0
    already_reported: int = 0

    @property
    def written(self) -> int:
        """Reports written by this run (claimed, or rewritten when regenerating)."""
        return self.changed

    @property
    def written_user_ids(self) -> list[int]:
        return self.changed_user_ids

    @property
    def skipped_existing(self) -> int:
        """Users whose report another run wrote between this run's start and its write."""
        return self.committed - self.changed

    @property
    def prediction_status(self) -> dict[str, int]:
        return dict(self.distributions.get("prediction_status", {}))

    @property
    def flags(self) -> dict[str, int]:
        return dict(self.distributions.get("prediction_flags", {}))


# --------------------------------------------------------------------------- the run


def _validate_config(mode: str, user_ids: Sequence[int] | None, chunk_size: int) -> None:
    if mode not in ("window", "catch_up"):
        raise ConfigurationError(f"mode must be 'window' or 'catch_up', got {mode!r}")
    if chunk_size < 1:
        raise ConfigurationError(f"chunk_size must be ≥ 1, got {chunk_size}")
    if user_ids is not None and any((not isinstance(u, int)) or u < 1 for u in user_ids):
        raise ConfigurationError("user_ids must be positive whole numbers")


def run_weekly(
    engine: sa.Engine,
    *,
    mode: Mode,
    week: dt.date | None = None,
    at: dt.datetime | None = None,
    regenerate: bool = False,
    user_ids: Sequence[int] | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    now: dt.datetime | None = None,
    log: Log = no_log,
    progress: Progress = no_progress,
) -> WeeklyReportRun:
    """Generate the weekly reports and predictions that are due (see the module doc).

    ``at`` is the instant that decides who is due (window mode; default ``now``); it is in
    the run's report (and so its metadata).  ``generated_at`` is the wall-clock time of
    each write; passing ``now`` fixes it (tests)."""
    _validate_config(mode, user_ids, chunk_size)
    require_tables(engine, WEEKLY_TABLES)
    written_at = now.astimezone(dt.UTC) if now is not None else None
    now = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    at = (at or now).astimezone(dt.UTC)
    if mode == "window" and week is None:
        week = week_in_window_span(at)
        if week is None:
            log("info", f"{at.isoformat()}: no zone is inside its Monday 03:00–06:00 window")
            return WeeklyReportRun(
                week_start=latest_complete_week(at), mode=mode, at=at, regenerate=regenerate
            )
    if week is None:
        raise ConfigurationError("catch-up mode needs the week (its Monday)")
    if week.weekday() != 0:
        raise ConfigurationError(
            f"week {week} is not a Monday (the week partition key is its Monday)"
        )
    run = WeeklyReportRun(week_start=week, mode=mode, at=at, regenerate=regenerate)
    unusable = personal_bests.unusable_because(engine)
    if unusable:
        log(
            "warning",
            f"kept personal bests not used ({unusable}): every earlier set is read "
            '(docs/deploy.md, "Kept personal bests")',
        )

    with partition_lock(engine, f"{REPORTS_TABLE}:{week.isoformat()}") as waited:
        run.lock_wait_s = waited
        with engine.connect() as conn:
            due, invalid = due_users(conn, week, mode, at, user_ids=user_ids)
            existing = queries.existing_report_user_ids(conn, week)
        run.eligible_users = len(due) + len(invalid)
        run.errors.update(
            {
                uid: UserError(code, VALIDATION_MESSAGES[code])
                for uid, code in invalid.items()
                if uid not in existing
            }
        )
        todo = due if regenerate else due[~due["user_id"].isin(existing)]
        run.already_reported = len(due) - len(todo)
        run.due_users = len(todo)
        log(
            "info",
            f"week {week} ({mode} at {at.isoformat()}): {len(due)} eligible and due, "
            f"{run.already_reported} already reported, {len(todo)} to generate",
        )
        chunks = (
            (
                WeeklyChunk(
                    week,
                    todo[todo["user_id"].isin(chunk)],
                    regenerate,
                    now,
                    written_at,
                    use_kept_bests=unusable is None,
                ),
                chunk,
            )
            for chunk in chunked(todo["user_id"].tolist(), chunk_size)
        )
        for report in run_chunks(engine, chunks):
            run.add(report)
            progress(run.users, len(todo))
    log_failures(log, run)
    return run


def run_weekly_range(
    engine: sa.Engine,
    first: dt.date,
    last: dt.date,
    *,
    mode: Mode = "catch_up",
    at: dt.datetime | None = None,
    regenerate: bool = False,
    user_ids: Sequence[int] | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    now: dt.datetime | None = None,
    log: Log = no_log,
    progress: Progress = no_progress,
) -> list[WeeklyReportRun]:
    """:func:`run_weekly` in catch-up mode for each week ``first … last`` (Mondays,
    inclusive), in order, each under its own week's lock; one report per week.  Window
    mode is one week at a time (the sensor's), so a range of more than one week is
    catch-up only."""
    weeks = week_starts(first, last)
    if mode != "catch_up" and len(weeks) > 1:
        raise ConfigurationError(
            f"a range of weeks ({first} … {last}) runs in catch-up mode only, not {mode!r}"
        )
    return [
        run_weekly(
            engine,
            mode=mode,
            week=week,
            at=at,
            regenerate=regenerate,
            user_ids=user_ids,
            chunk_size=chunk_size,
            now=now,
            log=log,
            progress=progress,
        )
        for week in weeks
    ]


def merge_weekly_runs(runs: Sequence[WeeklyReportRun]) -> WeeklyReportRun:
    """One report for a range of weeks: counts summed (user-weeks), failures by user (a
    user failing in two weeks is one failed user, with the last week's error)."""
    total = WeeklyReportRun(
        week_start=runs[0].week_start,
        mode=runs[0].mode,
        at=runs[0].at,
        regenerate=runs[0].regenerate,
    )
    for run in runs:
        total.merge(run)
        total.eligible_users += run.eligible_users
        total.due_users += run.due_users
        total.already_reported += run.already_reported
    return total


__all__ = [
    "Mode",
    "WeeklyReportRun",
    "due_users",
    "merge_weekly_runs",
    "missing_reports",
    "run_weekly",
    "run_weekly_range",
    "sensor_due_count",
    "week_starts",
]
