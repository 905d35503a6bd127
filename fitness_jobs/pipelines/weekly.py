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
runs of the same week from interleaving.  Chunks go through the shared runner.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import sqlalchemy as sa

from fitness_jobs.core.calendar import (
    day_number,
    local_day_numbers,
)
from fitness_jobs.core.isolation import UserError
from fitness_jobs.core.metrics import HISTORY_DAYS, SESSION_STATUSES, compute_behavior_metrics
from fitness_jobs.core.prediction import predict_transformations
from fitness_jobs.core.report import build_weekly_reports
from fitness_jobs.core.validation import validate_weigh_ins
from fitness_jobs.core.windows import (
    Mode,
    latest_complete_week,
    week_in_window_span,
    week_starts,
)
from fitness_jobs.db import reads
from fitness_jobs.db import weekly as queries
from fitness_jobs.db.bulk import OnConflict, chunked, records_from_frame, upsert
from fitness_jobs.db.engine import require_tables
from fitness_jobs.db.locks import partition_lock
from fitness_jobs.db.schema import APP_TABLES, TransformationPrediction, WeeklyReport
from fitness_jobs.errors import ConfigurationError
from fitness_jobs.pipelines import Log, Progress, log_failures, no_log, no_progress
from fitness_jobs.pipelines.history import read_history, validate_history
from fitness_jobs.pipelines.runner import (
    VALIDATION_MESSAGES,
    ChunkReport,
    Frames,
    RunReport,
    Validated,
    run_chunks,
)
from fitness_jobs.pipelines.weekly_due import (  # noqa: F401  (re-exported)
    due_users,
    missing_reports,
    report_rows,
    sensor_due_count,
    zones_in_window,
)

DEFAULT_CHUNK_SIZE = 2_000
# Local calendars run from UTC−12 to UTC+14: a margin of two days covers every zone.
MARGIN = dt.timedelta(days=2)
REPORT_WEEKS_BACK = 4  # the 4-week average before W
WEIGH_IN_DAYS = 28

REPORTS_TABLE = "weekly_reports"
PREDICTIONS_TABLE = "transformation_predictions"
# Computed columns; ``generated_at`` is stamped at write time.
REPORT_COLUMNS = [
    c.name for c in WeeklyReport.__table__.columns if c.name not in ("id", "generated_at")
]
PREDICTION_COLUMNS = [
    c.name
    for c in TransformationPrediction.__table__.columns
    if c.name not in ("id", "generated_at")
]
KEY = ("user_id", "week_start")
# What a weekly run needs in the app database (checked before anything runs).
WEEKLY_TABLES = (*APP_TABLES, REPORTS_TABLE, PREDICTIONS_TABLE)


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


# --------------------------------------------------------------------------- one chunk


@dataclass(frozen=True)
class WeeklyChunk:
    """The weekly job's part of the chunk runner: reports and predictions of one week.

    ``due`` has each user's ``week_end`` (the UTC instant their local week ends): nothing
    after it counts, so a re-run next month gives the same report.  ``now`` is the run's
    clock for validation; ``generated_at`` is stamped when the rows are written (the wall
    clock then, unless ``written_at`` fixes it)."""

    week: dt.date
    due: pd.DataFrame
    regenerate: bool
    now: dt.datetime
    written_at: dt.datetime | None = None

    @property
    def _week_end_utc(self) -> dt.datetime:
        return dt.datetime.combine(self.week + dt.timedelta(days=7), dt.time(0), dt.UTC)

    def read(self, conn: sa.Connection, user_ids: Sequence[int]) -> Frames:
        week_start_utc = dt.datetime.combine(self.week, dt.time(0), dt.UTC)
        detail_after = week_start_utc - dt.timedelta(days=7 * REPORT_WEEKS_BACK) - MARGIN
        upper = self._week_end_utc + MARGIN
        frames = read_history(
            conn,
            user_ids,
            until=upper,
            workouts_after=self._week_end_utc - dt.timedelta(days=HISTORY_DAYS + 2) - MARGIN,
            sets_after=detail_after,
            now=self.now,
        )
        weigh_after = self._week_end_utc - dt.timedelta(days=WEIGH_IN_DAYS) - MARGIN
        frames["weights"] = reads.weigh_ins(conn, user_ids, weigh_after, upper)
        # Earlier bests only matter for the lifts of week W: only users with a session
        # finalized near it (unvalidated, so a superset) need them, and that history read
        # is the heaviest of the chunk's.
        workouts = frames["workouts"]
        near = workouts["status"].isin(SESSION_STATUSES) & (
            workouts["finalized_at"] > week_start_utc - MARGIN
        )
        trained = sorted(set(workouts.loc[near, "user_id"].tolist()))
        frames["best"] = queries.prior_best_e1rm(conn, trained, detail_after, self.now)
        return frames

    def validate(self, raw: Frames) -> Validated:
        valid = validate_history(raw, self.now)
        weights, weights_excluded = validate_weigh_ins(raw["weights"], self.now)
        valid.excluded_rows.update(weights_excluded)
        frames = valid.frames
        users = frames["users"]
        cutoff = self.due.set_index("user_id")["week_end"]
        users["cutoff"] = users["user_id"].map(cutoff)
        users["metrics_day"] = day_number(self.week) + 6
        users["coach_requests_7d"] = 0
        workouts = frames["workouts"]
        workouts = workouts[workouts["finalized_at"] < workouts["user_id"].map(cutoff)]
        weights = weights[weights["measured_at"] < weights["user_id"].map(cutoff)]
        tz_of = users.set_index("user_id")["tz"]
        frames["workouts"] = workouts
        frames["sets"] = frames["sets"][
            frames["sets"]["workout_id"].isin(set(workouts["workout_id"].tolist()))
        ]
        frames["weights"] = weights.assign(
            local_day=local_day_numbers(weights["measured_at"], weights["user_id"].map(tz_of))
        )
        frames["best"] = raw["best"]
        return valid

    def compute(self, frames: Frames) -> tuple[pd.DataFrame, pd.DataFrame]:
        users, workouts, sets = frames["users"], frames["workouts"], frames["sets"]
        week_day = day_number(self.week)
        metrics = compute_behavior_metrics(users, workouts, sets)
        predictions = predict_transformations(
            frames["weights"][["user_id", "local_day", "weight_kg"]],
            users[["user_id", "sex", "birth_date", "height_cm"]],
            week_day,
        )
        reports = build_weekly_reports(
            users, week_day, workouts, sets, frames["best"], metrics, predictions
        )
        predictions["week_start"] = self.week
        return reports, predictions

    def records(self, outputs: Sequence[tuple[pd.DataFrame, pd.DataFrame]]) -> dict[int, Any]:
        reports = pd.concat([r for r, _ in outputs], ignore_index=True)
        predictions = pd.concat([p for _, p in outputs], ignore_index=True)
        by_user = {p["user_id"]: p for p in records_from_frame(predictions, PREDICTION_COLUMNS)}
        return {
            r["user_id"]: (r, by_user.get(r["user_id"]))
            for r in records_from_frame(reports, REPORT_COLUMNS)
        }

    def write(self, conn: sa.Connection, rows: Sequence[Any]) -> list[int]:
        policy: OnConflict = "update" if self.regenerate else "ignore"
        stamp = self.written_at or dt.datetime.now(dt.UTC)
        for report, prediction in rows:
            report["generated_at"] = stamp
            if prediction is not None:
                prediction["generated_at"] = stamp
        claimed = upsert(conn, REPORTS_TABLE, [r for r, _ in rows], KEY, on_conflict=policy)
        claimed_ids = {int(key[0]) for key in claimed}
        predictions = [p for r, p in rows if p is not None and r["user_id"] in claimed_ids]
        upsert(conn, PREDICTIONS_TABLE, predictions, KEY, on_conflict="update")
        return sorted(claimed_ids)

    def tally(
        self,
        outputs: Sequence[tuple[pd.DataFrame, pd.DataFrame]],
        committed: Sequence[int],
        report: ChunkReport,
    ) -> None:
        predictions = pd.concat([p for _, p in outputs], ignore_index=True)
        ok = predictions[predictions["user_id"].isin(set(committed))]
        report.count("prediction_status", ok["status"].tolist())
        report.count("prediction_flags", [f for flags in ok["flags"] for f in (flags or [])])


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
                WeeklyChunk(week, todo[todo["user_id"].isin(chunk)], regenerate, now, written_at),
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
