"""The nightly job's part of the chunk runner: one partition day, or a range of days,
for a chunk of users (design §5).  ``pipelines.nightly`` orchestrates the run."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
import sqlalchemy as sa

from fitness_jobs.core.arrays import FIRST_SESSION_LOCAL, day_numbers_of, with_local_times
from fitness_jobs.core.calendar import local_naive_by_zone
from fitness_jobs.core.columns import SetColumns, WorkoutColumns
from fitness_jobs.core.metrics import (
    HISTORY_DAYS,
    METRIC_COLUMNS,
    METRICS_VERSION,
    SETS_HISTORY_DAYS,
    compute_behavior_metrics,
)
from fitness_jobs.core.windows import snapshot_instant
from fitness_jobs.db import nightly as queries
from fitness_jobs.db import reads
from fitness_jobs.db.bulk import upsert_counted
from fitness_jobs.db.engine import is_postgres, without_parallel_workers
from fitness_jobs.db.schema import APP_TABLES
from fitness_jobs.db.set_summaries import set_summaries
from fitness_jobs.pipelines.history import split_inexact, summaries_as_sets, validate_history
from fitness_jobs.pipelines.runner import ChangedRows, ChunkReport, Frames, Validated

DEFAULT_CHUNK_SIZE = 5_000
# A range is worked through in blocks of at most this many days, each chunk of users
# read once for the whole block (the Dagster backfill policy's maximum).  A block reads
# a year of history before its first day: 62 days read it half as often per day as 31
# did (a 62-day range 12% faster in one run, 124 days no faster again).
MAX_DAYS_PER_READ = 62
# A chunk holds at most ``chunk_size × CHUNK_DAYS`` user-days: a longer block takes
# fewer users per chunk, so its memory stays that of a 31-day block.
CHUNK_DAYS = 31
# Days computed in one call, a row per (user, day): a row holds a 180-day load series
# and 90 days of activity, so 8 days of 5,000 users is some 60 MB per such matrix.
DAYS_PER_CALL = 8
# Each day reads the workouts and sets a single run of it would (design §11).
WORKOUT_SPAN = dt.timedelta(days=HISTORY_DAYS + 2)
SET_SPAN = dt.timedelta(days=SETS_HISTORY_DAYS + 2)
COACH_DAYS = 7  # coach_requests_7d: UTC days D−6 … D
# The set columns the validation and the volume load use (not the exercise's names).
SET_DTYPES = {
    "set_id": "int64",
    "workout_id": "int64",
    "user_id": "int64",
    "reps": "float64",
    "weight_kg": "float64",
    "is_warmup": "bool",
}
SET_COLUMNS = list(SET_DTYPES)
NO_USERS = np.empty(0, dtype=np.int64)
METRICS_TABLE = "user_behavior_metrics"
METRICS_KEY = ("user_id", "metrics_date")
ROW_COLUMNS = [
    "user_id",
    "metrics_date",
    "snapshot_at",
    "computed_at",
    "timezone",
    "metrics_version",
    *METRIC_COLUMNS,
]
# What a nightly run needs in the app database (checked before anything runs).
NIGHTLY_TABLES = (*APP_TABLES, METRICS_TABLE, "coach_usage_daily")
# A re-run rewrites a row only if one of these differs, so it "changes nothing".
COMPARED_COLUMNS = ["snapshot_at", "timezone", "metrics_version", *METRIC_COLUMNS]


def partition_days(first: dt.date, last: dt.date) -> list[dt.date]:
    """The UTC days ``first … last``, inclusive."""
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


def partition_of(snapshot_at: dt.datetime) -> dt.date:
    """The partition day whose snapshot is ``snapshot_at`` (the end of that UTC day)."""
    return (snapshot_at.astimezone(dt.UTC) - dt.timedelta(days=1)).date()


def _utc(instant: object) -> pd.Timestamp:
    """An instant as a driver returns it (aware on PostgreSQL, naive UTC text on SQLite)."""
    at = pd.Timestamp(instant)  # type: ignore[arg-type]
    return at.tz_localize("UTC") if at.tzinfo is None else at.tz_convert("UTC")


@dataclass(frozen=True)
class UserRows:
    """One user's rows to write: ``positions`` in ``frame`` (shared by the chunk)."""

    frame: pd.DataFrame
    positions: np.ndarray


@dataclass(frozen=True)
class NightlyChunk:
    """The nightly job's part of the chunk runner: the snapshots of the days
    ``partition … last`` (one day when ``last`` is None) of a chunk of users.

    ``active`` has, per day, the ids active that day (as ``run_nightly_range`` lists
    them, ``limit`` applied); a user gets a row for exactly those days.  None means
    every user of the chunk on every day."""

    partition: dt.date
    computed_at: dt.datetime
    last: dt.date | None = None
    active: Mapping[dt.date, np.ndarray] | None = None
    # The server's parallel workers for the reads (``db.engine.without_parallel_workers``):
    # None gives them to a range's reads, which scan months, and not to one day's.  The
    # I/O floor asks for them: its one stream of reads is fastest with them.
    parallel_reads: bool | None = None

    @cached_property
    def days(self) -> list[dt.date]:
        return partition_days(self.partition, self.last or self.partition)

    @property
    def as_of(self) -> dt.datetime:
        """The first day's snapshot."""
        return snapshot_instant(self.partition)

    def read(self, conn: sa.Connection, user_ids: Sequence[int]) -> Frames:
        """One read for every day: the history the first day needs, up to the last
        day's snapshot.  Rows in id order, so each day's rows are in the same order as a
        single run's (sums of floats depend on it).  Sets come as one summary row per
        workout (``set_summaries``), but for the users with a set whose volume is not
        exact whatever the order of summation: their sets themselves (``sets``)."""
        first, last = self.days[0], self.days[-1]
        if not (len(self.days) > 1 if self.parallel_reads is None else self.parallel_reads):
            without_parallel_workers(conn)
        until = snapshot_instant(last)
        sets_after = snapshot_instant(first) - SET_SPAN
        frames = {
            "users": reads.users(conn, user_ids),
            "first_sessions": reads.first_session_at(conn, user_ids, until, now=self.computed_at),
            "workouts": reads.workouts(
                conn, user_ids, snapshot_instant(first) - WORKOUT_SPAN, until
            ).sort_values("workout_id", kind="stable", ignore_index=True),
        }
        summaries = set_summaries(conn, user_ids, sets_after, until)
        frames["set_summaries"], inexact = split_inexact(summaries)
        sets = (
            reads.workout_sets(conn, inexact.tolist(), sets_after, until, SET_COLUMNS)
            if inexact.size
            else pd.DataFrame({c: pd.Series(dtype=t) for c, t in SET_DTYPES.items()})
        )
        frames["sets"] = sets.sort_values("set_id", kind="stable", ignore_index=True)
        first_usage_day = first - dt.timedelta(days=COACH_DAYS - 1)
        frames["usage"] = queries.coach_requests_by_day(conn, user_ids, first_usage_day, last)
        return frames

    def validate(self, raw: Frames) -> Validated:
        """Validation once for all days; then ``user_days``: one row per (user, day) the
        user is active, with that day's local date number and coach requests."""
        valid = validate_history(raw, self.computed_at)
        valid.frames["user_days"] = self._user_days(valid.frames["users"], raw["usage"])
        # A kept workout's summary as one set of its whole (exact) volume: 1 × volume.
        as_sets = summaries_as_sets(valid, raw["set_summaries"]).astype(SET_DTYPES)
        valid.frames["sets"] = pd.concat([valid.frames["sets"], as_sets], ignore_index=True)
        return valid

    def _user_days(self, users: pd.DataFrame, usage: pd.DataFrame) -> pd.DataFrame:
        """One row per (user, day of the range) the user is active: the day's index, its
        local date number (every day's snapshot converted in one pass, zone by zone) and
        the user's coach requests in the seven UTC days ending on it."""
        user_ids = users["user_id"].to_numpy(dtype=np.int64)
        index_parts, row_parts = [], []
        for index, day in enumerate(self.days):
            rows = np.arange(user_ids.size)
            if self.active is not None:
                rows = np.flatnonzero(np.isin(user_ids, self.active.get(day, NO_USERS)))
            index_parts.append(np.full(rows.size, index, dtype=np.int64))
            row_parts.append(rows)
        day_index = np.concatenate(index_parts)
        rows = np.concatenate(row_parts)
        # Each zone's local day of each snapshot (46 zones × 62 days), read per row: the
        # snapshots converted once per zone, not once per user (11 ms against 34).
        codes, zones = pd.factorize(users["tz"].to_numpy(dtype=object))
        snapshots = pd.DatetimeIndex([snapshot_instant(day) for day in self.days])
        utc = snapshots.tz_convert("UTC").tz_localize(None).to_numpy(dtype="datetime64[us]")
        local = local_naive_by_zone(
            np.tile(utc, len(zones)), np.repeat(np.arange(len(zones)), utc.size), zones
        )
        by_zone = day_numbers_of(local).reshape(len(zones), utc.size)
        row_codes = codes[rows]
        frame = pd.DataFrame(
            {
                "user_id": user_ids[rows],
                "day_index": day_index,
                "metrics_day": np.where(
                    row_codes >= 0,
                    by_zone[row_codes, day_index] if by_zone.size else 0,
                    np.iinfo(np.int64).min,  # no zone: no local day (NaT)
                ),
            }
        )
        # A usage row of UTC day u counts for the days u … u + 6 of the range.
        first = self.days[0]
        offset = np.array([(day - first).days for day in usage["usage_date"]], dtype=np.int64)
        spread = pd.DataFrame(
            {
                "user_id": np.repeat(usage["user_id"].to_numpy(dtype=np.int64), COACH_DAYS),
                "day_index": (offset[:, None] + np.arange(COACH_DAYS)[None, :]).reshape(-1),
                "request_count": np.repeat(
                    usage["request_count"].to_numpy(dtype=np.int64), COACH_DAYS
                ),
            }
        )
        coach = spread.groupby(["user_id", "day_index"])["request_count"].sum()
        key = pd.MultiIndex.from_arrays([frame["user_id"], frame["day_index"]])
        frame["coach_requests_7d"] = (
            coach.reindex(key).fillna(0).to_numpy().astype(np.int64)
            if len(coach)
            else np.zeros(len(frame), dtype=np.int64)
        )
        return frame

    def compute(self, frames: Frames) -> pd.DataFrame:
        """Each day for its active users, from exactly the rows a run of that day alone
        reads: workouts and sets finalised in its own windows up to its ``as_of``."""
        # Everything per workout and per set converted once for all the days (each
        # instant to its user's local day and minute, each status judged once); then
        # one call per few days, a row per (user, day) (``core.row_sessions``).
        users, workouts = with_local_times(frames["users"], frames["workouts"])
        workout_columns = WorkoutColumns.of(workouts)
        set_columns = SetColumns.of(frames["sets"])
        user_days = frames["user_days"]
        snapshots = pd.DatetimeIndex([snapshot_instant(day) for day in self.days])
        history = np.timedelta64(WORKOUT_SPAN, "us")
        outputs = []
        for first in range(0, len(self.days), DAYS_PER_CALL):
            in_batch = user_days["day_index"].between(first, first + DAYS_PER_CALL - 1)
            batch = user_days.loc[
                in_batch, ["user_id", "day_index", "metrics_day", "coach_requests_7d"]
            ]
            if batch.empty:
                continue
            rows = users.merge(batch, on="user_id", how="inner").sort_values(
                "day_index", kind="stable", ignore_index=True
            )
            as_of = snapshots[rows["day_index"].to_numpy()]
            rows["cutoff"] = as_of
            # The earliest session is read up to the last day's snapshot: later than a
            # row's snapshot means none yet (never the case for an active user).
            before = (rows["first_session_at"] <= rows["cutoff"]).to_numpy()
            rows["first_session_at"] = rows["first_session_at"].where(before)
            rows[FIRST_SESSION_LOCAL] = rows[FIRST_SESSION_LOCAL].where(before)
            metrics = compute_behavior_metrics(rows, workout_columns, set_columns, history=history)
            metrics["snapshot_at"] = as_of
            metrics["computed_at"] = self.computed_at
            metrics["metrics_version"] = METRICS_VERSION
            metrics["day_index"] = rows["day_index"].to_numpy()
            outputs.append(metrics)
        if not outputs:
            return pd.DataFrame(columns=[*ROW_COLUMNS, "day_index"])
        return pd.concat(outputs, ignore_index=True)

    def _final(self, outputs: Sequence[pd.DataFrame]) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The rows to write, and those superseded: of two days of the range giving a
        user the same local ``metrics_date``, the later day's row is kept, as the later
        of two single runs would leave it."""
        frame = pd.concat(outputs, ignore_index=True).sort_values("day_index", kind="stable")
        later = frame.duplicated(["user_id", "metrics_date"], keep="last")
        return frame[~later], frame[later]

    def records(self, outputs: Sequence[pd.DataFrame]) -> dict[int, UserRows]:
        """Each user's rows: positions in one shared frame, not a dict per row, so a
        write stages a slice of the frame (``bulk.upsert_counted`` of a frame)."""
        kept, _superseded = self._final(outputs)
        kept = kept.reset_index(drop=True)
        frame = kept[ROW_COLUMNS]
        ids = frame["user_id"].to_numpy()
        order = np.argsort(ids, kind="stable")
        firsts = pd.unique(ids)  # users in the order of their first row, as before
        starts = np.searchsorted(ids[order], firsts)
        stops = np.searchsorted(ids[order], firsts, side="right")
        return {
            int(uid): UserRows(frame, order[start:stop])
            for uid, start, stop in zip(firsts, starts, stops, strict=True)
        }

    def write(self, conn: sa.Connection, rows: Sequence[UserRows]) -> ChangedRows:
        """Upsert the users' rows; how many rows changed, by partition day (the server
        counts them by snapshot, each day's own).  Rows none of whose keys exist yet (a
        new night, a range written for the first time) are inserted without the upsert's
        check of each key (``bulk.upsert_counted``'s ``keys_new``)."""
        if not rows:
            return ChangedRows({})
        frame = rows[0].frame.take(np.concatenate([r.positions for r in rows]))
        keys_new = is_postgres(conn) and not queries.metrics_keys_taken(
            conn, frame["user_id"].to_numpy(), frame["metrics_date"].to_numpy()
        )
        by_snapshot = upsert_counted(
            conn,
            METRICS_TABLE,
            frame,
            METRICS_KEY,
            count_by="snapshot_at",
            unchanged_unless=COMPARED_COLUMNS,
            keys_new=keys_new,
        )
        return ChangedRows({partition_of(_utc(at)).isoformat(): n for at, n in by_snapshot.items()})

    def tally(
        self, outputs: Sequence[pd.DataFrame], committed: Sequence[int], report: ChunkReport
    ) -> None:
        kept, superseded = self._final(outputs)
        labels = [day.isoformat() for day in self.days]
        ok = kept[kept["user_id"].isin(set(committed))]
        # Counted by group (a range's chunk has hundreds of thousands of rows, a few
        # hundred distinct (day, value) pairs), then labelled.
        sizes = ok.groupby("day_index").size()
        report.add_counts(
            "written", dict(zip([labels[d] for d in sizes.index], sizes.to_list(), strict=True))
        )
        for name in ("lapse_risk", "metrics_date"):
            by_value: Counter[str] = Counter()
            by_day_value: dict[str, int] = {}
            counts = ok.groupby(["day_index", name], sort=False).size()
            for (d, value), c in zip(counts.index.to_list(), counts.to_list(), strict=True):
                by_value[str(value)] += int(c)
                by_day_value[f"{labels[int(d)]}|{value}"] = int(c)
            report.add_counts(name, by_value)
            report.add_counts(f"day|{name}", by_day_value)
        gone = superseded[superseded["user_id"].isin(set(committed))]
        sizes = gone.groupby("day_index").size()
        report.add_counts(
            "superseded", dict(zip([labels[d] for d in sizes.index], sizes.to_list(), strict=True))
        )
