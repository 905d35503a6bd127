"""The weekly job's part of the chunk runner: the reports and predictions of one week for
a chunk of users (design §6–§8).  ``pipelines.weekly`` orchestrates the run."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from fitness_jobs.core.arrays import with_local_times
from fitness_jobs.core.calendar import day_number, local_day_numbers
from fitness_jobs.core.columns import SESSION_STATUSES
from fitness_jobs.core.metrics import HISTORY_DAYS, compute_behavior_metrics
from fitness_jobs.core.prediction import predict_transformations
from fitness_jobs.core.report import build_weekly_reports
from fitness_jobs.core.validation import validate_weigh_ins
from fitness_jobs.db import personal_bests, reads
from fitness_jobs.db.bulk import OnConflict, upsert
from fitness_jobs.db.engine import without_parallel_workers
from fitness_jobs.db.schema import APP_TABLES, TransformationPrediction, WeeklyReport
from fitness_jobs.db.set_summaries import set_summaries
from fitness_jobs.pipelines.history import (
    inexact_volume_users,
    read_history,
    split_inexact,
    summaries_as_sets,
    validate_history,
)
from fitness_jobs.pipelines.personal_bests import earlier_bests
from fitness_jobs.pipelines.runner import ChunkReport, Frames, Validated

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


@dataclass(frozen=True)
class KeptRows:
    """A chunk's rows for the kept personal bests (``pipelines.personal_bests``)."""

    bests: pd.DataFrame
    marks: pd.DataFrame
    seen: pd.DataFrame


# What ``compute`` returns: reports, predictions, and the kept bests of its users.
Output = tuple[pd.DataFrame, pd.DataFrame, KeptRows]


@dataclass(frozen=True)
class UserRows:
    """One user's rows of a chunk: their report's position in ``reports`` and their
    prediction's in ``predictions`` (−1: none)."""

    reports: pd.DataFrame
    predictions: pd.DataFrame
    report_at: int
    prediction_at: int
    user_id: int
    kept: KeptRows


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
    use_kept_bests: bool = False

    @property
    def _week_end_utc(self) -> dt.datetime:
        return dt.datetime.combine(self.week + dt.timedelta(days=7), dt.time(0), dt.UTC)

    def read(self, conn: sa.Connection, user_ids: Sequence[int]) -> Frames:
        """The history the report needs.  Sets one by one only from two days before ``W``
        (the week's lifts, hard sets and records, and the days just before it); the four
        weeks before that, which give only volume, as one summary row per workout
        (``set_summaries``), but for users with a set whose volume is not exact whatever
        the order of summation: their sets themselves.  The best e1RM of every earlier
        session comes aggregated by the database (``prior_best_e1rm``).  All of it without
        the server's parallel workers (``db.engine.without_parallel_workers``)."""
        without_parallel_workers(conn)
        week_start_utc = dt.datetime.combine(self.week, dt.time(0), dt.UTC)
        summary_after = week_start_utc - dt.timedelta(days=7 * REPORT_WEEKS_BACK) - MARGIN
        # Before this instant, every zone's local date is before W (UTC+14 at most).
        detail_after = week_start_utc - MARGIN
        upper = self._week_end_utc + MARGIN
        frames = read_history(
            conn,
            user_ids,
            until=upper,
            workouts_after=self._week_end_utc - dt.timedelta(days=HISTORY_DAYS + 2) - MARGIN,
            sets_after=detail_after,
            now=self.now,
        )
        summaries = set_summaries(conn, user_ids, summary_after, detail_after)
        frames["set_summaries"], inexact = split_inexact(
            summaries, also=inexact_volume_users(frames["sets"])
        )
        if inexact.size:
            older = reads.workout_sets(conn, inexact.tolist(), summary_after, detail_after)
            frames["sets"] = pd.concat([frames["sets"], older], ignore_index=True)
        weigh_after = self._week_end_utc - dt.timedelta(days=WEIGH_IN_DAYS) - MARGIN
        frames["weights"] = reads.weigh_ins(conn, user_ids, weigh_after, upper)
        # Earlier bests only matter for the lifts of week W: only users with a session
        # finalized near it (unvalidated, so a superset) need them, and that history read
        # is the heaviest of the chunk's.
        workouts = frames["workouts"]
        near = workouts["status"].isin(SESSION_STATUSES) & (workouts["finalized_at"] > detail_after)
        trained = sorted(set(workouts.loc[near, "user_id"].tolist()))
        earlier = earlier_bests(
            conn,
            trained,
            detail_after,
            self.now,
            use_kept=self.use_kept_bests,
            rebuild=self.regenerate,
        )
        frames["best"] = earlier.best
        frames["keep_bests"], frames["keep_marks"] = earlier.keep_bests, earlier.keep_marks
        frames["keep_seen"] = earlier.seen_marks
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
        # In set id order, whatever the read's plan: sums of inexact volumes depend on it.
        sets = pd.concat(
            [
                frames["sets"].assign(summary=False),
                summaries_as_sets(valid, raw["set_summaries"]).assign(summary=True),
            ],
            ignore_index=True,
        ).sort_values("set_id", kind="stable", ignore_index=True)
        workouts = frames["workouts"]
        workouts = workouts[workouts["finalized_at"] < workouts["user_id"].map(cutoff)]
        weights = weights[weights["measured_at"] < weights["user_id"].map(cutoff)]
        tz_of = users.set_index("user_id")["tz"]
        # Each instant converted to its zone once, for the metrics and the report alike.
        users, workouts = with_local_times(users, workouts)
        frames["users"] = users
        frames["workouts"] = workouts
        frames["sets"] = sets[sets["workout_id"].isin(set(workouts["workout_id"].tolist()))]
        frames["weights"] = weights.assign(
            local_day=local_day_numbers(weights["measured_at"], weights["user_id"].map(tz_of))
        )
        for name in ("best", "keep_bests", "keep_marks", "keep_seen"):
            frames[name] = raw[name]
        return valid

    def compute(self, frames: Frames) -> Output:
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
        return (
            reports,
            predictions,
            KeptRows(frames["keep_bests"], frames["keep_marks"], frames["keep_seen"]),
        )

    def records(self, outputs: Sequence[Output]) -> dict[int, Any]:
        """Each user's rows, as their positions in the chunk's two frames (written as
        frames, so no row becomes a dict of Python values on the way), and the chunk's
        kept bests."""
        reports = pd.concat([o[0] for o in outputs], ignore_index=True)[REPORT_COLUMNS]
        predictions = pd.concat([o[1] for o in outputs], ignore_index=True)[PREDICTION_COLUMNS]
        kept = KeptRows(
            pd.concat([o[2].bests for o in outputs], ignore_index=True),
            pd.concat([o[2].marks for o in outputs], ignore_index=True),
            pd.concat([o[2].seen for o in outputs], ignore_index=True),
        )
        prediction_at = pd.Series(np.arange(len(predictions)), index=predictions["user_id"])
        prediction_at = prediction_at[~prediction_at.index.duplicated()]
        at = prediction_at.reindex(reports["user_id"]).fillna(-1).astype(np.int64).tolist()
        return {
            uid: UserRows(reports, predictions, position, at[position], uid, kept)
            for position, uid in enumerate(reports["user_id"].tolist())
        }

    def write(self, conn: sa.Connection, rows: Sequence[Any]) -> list[int]:
        if not rows:
            return []
        policy: OnConflict = "update" if self.regenerate else "ignore"
        stamp = self.written_at or dt.datetime.now(dt.UTC)
        first: UserRows = rows[0]
        reports = first.reports.iloc[[r.report_at for r in rows]]
        claimed = upsert(
            conn, REPORTS_TABLE, reports.assign(generated_at=stamp), KEY, on_conflict=policy
        )
        claimed_ids = {int(key[0]) for key in claimed}
        at = [r.prediction_at for r in rows if r.prediction_at >= 0]
        predictions = first.predictions.iloc[at]
        predictions = predictions[predictions["user_id"].isin(claimed_ids)]
        if len(predictions):
            upsert(
                conn,
                PREDICTIONS_TABLE,
                predictions.assign(generated_at=stamp),
                KEY,
                on_conflict="update",
            )
        users = {r.user_id for r in rows}
        kept = first.kept
        personal_bests.keep(
            conn,
            kept.bests[kept.bests["user_id"].isin(users)],
            kept.marks[kept.marks["user_id"].isin(users)],
            kept.seen,
        )
        return sorted(claimed_ids)

    def tally(
        self,
        outputs: Sequence[Output],
        committed: Sequence[int],
        report: ChunkReport,
    ) -> None:
        predictions = pd.concat([o[1] for o in outputs], ignore_index=True)
        ok = predictions[predictions["user_id"].isin(set(committed))]
        report.count("prediction_status", ok["status"].tolist())
        report.count("prediction_flags", [f for flags in ok["flags"] for f in (flags or [])])
