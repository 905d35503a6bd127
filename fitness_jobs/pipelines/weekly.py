"""The weekly report + transformation prediction run for one reported week (DESIGN §2, §6–§8).

Week partition ``W`` (a Monday) covers local dates ``W … W+6``; a user's report is due
in their local window Monday ``W+7`` 03:00 ≤ t < 06:00.

Modes:
- **window**: at a reference instant ``at``, the eligible users whose local time is
  inside their window and who have no report yet;
- **catch_up**: every eligible user of ``W`` whose local week has ended and who has no
  report, whatever the clock (UI backfills, ``fitness-jobs weekly --week W``).
- **regenerate**: with either mode, rewrite existing reports (all, or given user ids).

Exactly once per (user, week): the report row is inserted with ``ON CONFLICT DO
NOTHING``: the insert *is* the claim, and the prediction is written in the same
transaction only for the users whose report was claimed.  A per-week lock keeps two
runs of the same week from interleaving.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd
import sqlalchemy as sa

from fitness_jobs.core.calendar import (
    TZ_INVALID,
    day_number,
    local_day_numbers,
    local_time_utc,
    resolve_timezone,
    resolve_timezones,
)
from fitness_jobs.core.isolation import isolate
from fitness_jobs.core.metrics import HISTORY_DAYS, compute_behavior_metrics
from fitness_jobs.core.prediction import predict_transformations
from fitness_jobs.core.report import build_weekly_reports
from fitness_jobs.core.validation import (
    INVALID_TIMEZONE,
    validate_weigh_ins,
)
from fitness_jobs.db import reads
from fitness_jobs.db.bulk import OnConflict, chunked, records_from_frame, upsert, write_isolated
from fitness_jobs.db.locks import partition_lock
from fitness_jobs.db.schema import (
    APP_TABLES,
    TransformationPrediction,
    User,
    WeeklyReport,
    Workout,
    WorkoutSet,
)
from fitness_jobs.pipelines import (
    Log,
    Progress,
    UsageError,
    log_failures,
    no_log,
    no_progress,
    require_tables,
)
from fitness_jobs.pipelines.history import read_training_history, validate_training_history

Mode = Literal["window", "catch_up"]

WINDOW_START = dt.time(3, 0)
WINDOW_END = dt.time(6, 0)
DEFAULT_CHUNK_SIZE = 2_000
# Local calendars run from UTC−12 to UTC+14: a margin of two days covers every zone.
MARGIN = dt.timedelta(days=2)
REPORT_WEEKS_BACK = 4  # the 4-week average before W
WEIGH_IN_DAYS = 28

REPORT_COLUMNS = [c.name for c in WeeklyReport.__table__.columns if c.name != "id"]
PREDICTION_COLUMNS = [c.name for c in TransformationPrediction.__table__.columns if c.name != "id"]
KEY = ("user_id", "week_start")
# What a weekly run needs in the app database (checked before anything runs).
WEEKLY_TABLES = (*APP_TABLES, "weekly_reports", "transformation_predictions")


def monday_of(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


def window_span_utc(week: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The UTC span in which any zone is inside its window for week ``week``:
    Monday W+7 03:00 at UTC+14 (Sunday 13:00 UTC) to 06:00 at UTC−12 (Monday 18:00 UTC).
    Zones run from −12:00 to +14:00, so the span is conservative."""
    monday = dt.datetime.combine(week + dt.timedelta(days=7), dt.time(0), dt.UTC)
    return monday + dt.timedelta(hours=3 - 14), monday + dt.timedelta(hours=6 + 12)


def coverage_deadline(week: dt.date) -> dt.datetime:
    """When the last window of week ``week`` has closed (Monday W+7 17:00 UTC for the
    westernmost inhabited zones, UTC−11)."""
    return dt.datetime.combine(week + dt.timedelta(days=7), dt.time(17, 0), dt.UTC)


def week_in_window_span(at: dt.datetime) -> dt.date | None:
    """The reported week whose window span contains ``at`` (at most one), else None."""
    at = at.astimezone(dt.UTC)
    for monday in (monday_of(at.date()), monday_of(at.date()) + dt.timedelta(days=7)):
        week = monday - dt.timedelta(days=7)
        start, end = window_span_utc(week)
        if start <= at < end:
            return week
    return None


def latest_complete_week(now: dt.datetime) -> dt.date:
    """The last week that has ended everywhere (its Sunday is over in UTC−12)."""
    now = now.astimezone(dt.UTC)
    monday = monday_of((now - dt.timedelta(hours=12)).date())
    return monday - dt.timedelta(days=7)


@dataclass
class WeeklyReportRun:
    """What one weekly run did; becomes Dagster metadata and the CLI summary."""

    week_start: dt.date
    mode: Mode
    at: dt.datetime
    regenerate: bool
    eligible_users: int = 0
    due_users: int = 0
    already_reported: int = 0
    not_yet_due: int = 0
    written: int = 0
    skipped_existing: int = 0
    failed: dict[int, str] = field(default_factory=dict)
    excluded_rows: Counter[str] = field(default_factory=Counter)
    timezones: Counter[str] = field(default_factory=Counter)
    prediction_status: Counter[str] = field(default_factory=Counter)
    flags: Counter[str] = field(default_factory=Counter)
    timings: dict[str, float] = field(
        default_factory=lambda: {"read": 0.0, "validate": 0.0, "compute": 0.0, "write": 0.0}
    )
    chunks: int = 0
    bisections: int = 0
    lock_wait_s: float = 0.0
    sample: dict[str, Any] | None = None
    sample_prediction: dict[str, Any] | None = None
    written_user_ids: list[int] = field(default_factory=list)


# --------------------------------------------------------------------------- who is due


def _eligible_clause(since: dt.datetime) -> sa.ColumnElement[bool]:
    """Pro and trial users not deleted, and trials not over, at ``since`` (SQL)."""
    u = User.__table__
    return sa.and_(
        u.c.plan.in_(("pro", "trial")),
        sa.or_(u.c.deleted_at.is_(None), u.c.deleted_at > since),
        sa.or_(u.c.plan == "pro", u.c.trial_ends_at.is_(None), u.c.trial_ends_at > since),
    )


def _zone_clause(zones: Sequence[str | None]) -> sa.ColumnElement[bool]:
    """``timezone`` is one of ``zones`` (raw values, bound as parameters, never SQL text)."""
    u = User.__table__
    named = [z for z in zones if z is not None]
    parts: list[sa.ColumnElement[bool]] = [u.c.timezone.in_(named)] if named else []
    if None in zones:
        parts.append(u.c.timezone.is_(None))
    return sa.or_(*parts) if parts else sa.false()


def eligibility_candidates(
    conn: sa.Connection, since: dt.datetime, zones: Sequence[str | None] | None = None
) -> pd.DataFrame:
    """Pro and trial users not deleted before ``since`` (narrow columns, all at once),
    optionally only those whose raw ``timezone`` is one of ``zones``.

    Exact eligibility (at each user's own instant) is decided in pandas.
    """
    u = User.__table__
    stmt = sa.select(u.c.id, u.c.timezone, u.c.plan, u.c.trial_ends_at, u.c.deleted_at).where(
        _eligible_clause(since)
    )
    if zones is not None:
        stmt = stmt.where(_zone_clause(zones))
    return reads.read_frame(
        conn, stmt.order_by(u.c.id), ["user_id", "timezone", "plan", "trial_ends_at", "deleted_at"]
    )


def zones_in_window(
    conn: sa.Connection, week: dt.date, at: dt.datetime
) -> tuple[list[str | None], list[str]]:
    """Raw ``timezone`` values of users eligible at ``at`` whose local time is inside the
    Monday 03:00–06:00 window of ``week``, and the raw values that are invalid.

    One ``GROUP BY timezone`` query: a few hundred distinct values, not a row per user.
    """
    u = User.__table__
    raw_zones = conn.execute(
        sa.select(u.c.timezone).where(_eligible_clause(at)).group_by(u.c.timezone)
    ).scalars()
    report_day = week + dt.timedelta(days=7)
    inside: list[str | None] = []
    invalid: list[str] = []
    for raw in raw_zones:
        canonical, _status = resolve_timezone(raw)
        if canonical is None:
            invalid.append(raw)
            continue
        start = local_time_utc(report_day, WINDOW_START, canonical)
        end = local_time_utc(report_day, WINDOW_END, canonical)
        if start <= at < end:
            inside.append(raw)
    return inside, invalid


def _zone_instants(tz: pd.Series, date: dt.date, clock: dt.time) -> pd.Series:
    """UTC instant of local ``date clock`` for each row's zone (one computation per zone)."""
    out = pd.Series(pd.NaT, index=tz.index, dtype="datetime64[us, UTC]")
    valid = tz.notna()
    for zone in pd.unique(tz[valid]):
        out[tz == zone] = pd.Timestamp(local_time_utc(date, clock, str(zone)))
    return out


def _eligible_at(frame: pd.DataFrame, instants: pd.Series) -> pd.Series:
    not_deleted = frame["deleted_at"].isna() | (frame["deleted_at"] > instants)
    trial_ok = (
        (frame["plan"] == "pro")
        | frame["trial_ends_at"].isna()
        | (frame["trial_ends_at"] > instants)
    )
    return not_deleted & trial_ok & frame["plan"].isin(["pro", "trial"])


def due_users(
    conn: sa.Connection,
    week: dt.date,
    mode: Mode,
    at: dt.datetime,
    *,
    user_ids: Sequence[int] | None = None,
) -> tuple[pd.DataFrame, dict[int, str]]:
    """Users of ``week`` to process now (before excluding existing reports).

    Returns ``(frame, invalid)``: ``frame`` has ``user_id``, ``tz``, ``window_start``,
    ``window_end``; ``invalid`` are eligible users whose zone is invalid, who fail with
    ``invalid_timezone`` (in window mode only during the UTC window, so that the
    failure is reported once a week, not every hour).
    """
    report_day = week + dt.timedelta(days=7)
    at_ts = pd.Timestamp(at)
    utc_start = pd.Timestamp(local_time_utc(report_day, WINDOW_START, "UTC"))
    utc_end = pd.Timestamp(local_time_utc(report_day, WINDOW_END, "UTC"))
    # Window mode reports invalid zones only during the UTC window; catch-up always.
    report_invalid = mode == "catch_up" or utc_start <= at_ts < utc_end
    raw_zones: list[str | None] | None = None
    if mode == "window":
        inside, invalid_zones = zones_in_window(conn, week, at)
        raw_zones = inside + (invalid_zones if report_invalid else [])
    since = dt.datetime.combine(report_day, dt.time(0), dt.UTC) - dt.timedelta(days=1)
    cand = eligibility_candidates(conn, min(since, at - dt.timedelta(days=1)), raw_zones)
    if user_ids is not None:
        cand = cand[cand["user_id"].isin(set(user_ids))]
    resolved = resolve_timezones(cand["timezone"])
    cand = cand.assign(tz=resolved["tz"], tz_status=resolved["tz_status"])
    cand["window_start"] = _zone_instants(cand["tz"], report_day, WINDOW_START)
    cand["window_end"] = _zone_instants(cand["tz"], report_day, WINDOW_END)
    cand["week_end"] = _zone_instants(cand["tz"], report_day, dt.time(0))
    invalid_mask = cand["tz_status"] == TZ_INVALID
    valid = cand[~invalid_mask]
    if mode == "window":
        eligible = _eligible_at(valid, pd.Series(at_ts, index=valid.index))
        inside_window = (valid["window_start"] <= at_ts) & (at_ts < valid["window_end"])
        chosen = valid[eligible & inside_window]
    else:
        # Eligible at their own window start, and their local week must be over.
        eligible = _eligible_at(valid, valid["window_start"])
        chosen = valid[eligible & (valid["week_end"] <= at_ts)]
    invalid: dict[int, str] = {}
    if report_invalid:
        bad = cand[invalid_mask]
        bad = bad[_eligible_at(bad, pd.Series(utc_start, index=bad.index))]
        invalid = dict.fromkeys((int(uid) for uid in bad["user_id"]), INVALID_TIMEZONE)
    columns = ["user_id", "tz", "window_start", "window_end", "week_end"]
    return chosen[columns].reset_index(drop=True), invalid


# --------------------------------------------------------------------------- reads


def prior_best_e1rm(
    conn: sa.Connection, user_ids: Sequence[int], until: dt.datetime
) -> pd.DataFrame:
    """Best Epley e1RM per (user, exercise) over working sets of sessions finalized ≤ ``until``.

    Same rules as the report: reps 1 → the weight, 2–10 → ``w·(1 + r/30)``, over 10 ignored;
    implausible values (the validation bounds) are ignored.
    """
    w = Workout.__table__
    s = WorkoutSet.__table__
    e1rm = sa.case(
        (s.c.reps == 1, s.c.weight_kg),
        else_=s.c.weight_kg * (1.0 + s.c.reps / 30.0),
    )
    stmt = (
        sa.select(w.c.user_id, s.c.exercise, sa.func.max(e1rm))
        .join(w, w.c.id == s.c.workout_id)
        .where(
            w.c.user_id.in_(list(user_ids)),
            w.c.status.in_(("completed", "partial")),
            w.c.finalized_at <= until,
            s.c.is_warmup.is_(False),
            s.c.reps >= 1,
            s.c.reps <= 10,
            s.c.weight_kg > 0,
            s.c.weight_kg <= 600,
        )
        .group_by(w.c.user_id, s.c.exercise)
    )
    frame = reads.read_frame(conn, stmt, ["user_id", "exercise", "best_e1rm"])
    frame["user_id"] = frame["user_id"].astype("int64")
    frame["best_e1rm"] = pd.to_numeric(frame["best_e1rm"], errors="coerce").astype(float)
    return frame


# --------------------------------------------------------------------------- the run


def _validate_config(mode: str, user_ids: Sequence[int] | None, chunk_size: int) -> None:
    if mode not in ("window", "catch_up"):
        raise UsageError(f"mode must be 'window' or 'catch_up', got {mode!r}")
    if chunk_size < 1:
        raise UsageError(f"chunk_size must be ≥ 1, got {chunk_size}")
    if user_ids is not None and any((not isinstance(u, int)) or u < 1 for u in user_ids):
        raise UsageError("user_ids must be positive whole numbers")


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
    """Generate the weekly reports and predictions that are due (see the module doc)."""
    _validate_config(mode, user_ids, chunk_size)
    require_tables(engine, WEEKLY_TABLES)
    at = (at or now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    if mode == "window":
        in_span = week_in_window_span(at)
        if week is None:
            week = in_span
        if week is None:
            log("info", f"{at.isoformat()}: no zone is inside its Monday 03:00–06:00 window")
            return WeeklyReportRun(
                week_start=latest_complete_week(at), mode=mode, at=at, regenerate=regenerate
            )
    if week is None:
        raise UsageError("catch-up mode needs the week (its Monday)")
    if week.weekday() != 0:
        raise UsageError(f"week {week} is not a Monday (the week partition key is its Monday)")
    run = WeeklyReportRun(week_start=week, mode=mode, at=at, regenerate=regenerate)
    generated_at = at if mode == "window" else (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)

    with partition_lock(engine, f"weekly_reports:{week.isoformat()}") as waited:
        run.lock_wait_s = waited
        started = time.perf_counter()
        with engine.connect() as conn:
            due, invalid = due_users(conn, week, mode, at, user_ids=user_ids)
            existing = reads.existing_report_user_ids(conn, week)
        run.timings["read"] += time.perf_counter() - started
        run.eligible_users = len(due) + len(invalid)
        run.failed.update({uid: code for uid, code in invalid.items() if uid not in existing})
        if regenerate:
            todo = due
        else:
            todo = due[~due["user_id"].isin(existing)]
            run.already_reported = len(due) - len(todo)
        run.due_users = len(todo)
        log(
            "info",
            f"week {week} ({mode} at {at.isoformat()}): {len(due)} eligible and due, "
            f"{run.already_reported} already reported, {len(todo)} to generate",
        )
        done = 0
        for chunk in chunked(todo["user_id"].tolist(), chunk_size):
            _process_chunk(
                engine, week, todo[todo["user_id"].isin(chunk)], regenerate, generated_at, run, log
            )
            done += len(chunk)
            progress(done, len(todo))
    log_failures(log, run.failed)
    return run


def _process_chunk(
    engine: sa.Engine,
    week: dt.date,
    due: pd.DataFrame,
    regenerate: bool,
    generated_at: dt.datetime,
    run: WeeklyReportRun,
    log: Log,
) -> None:
    run.chunks += 1
    ids = due["user_id"].tolist()
    week_day = day_number(week)
    week_end_utc = dt.datetime.combine(week + dt.timedelta(days=7), dt.time(0), dt.UTC)
    upper = week_end_utc + MARGIN
    history_after = week_end_utc - dt.timedelta(days=HISTORY_DAYS + 2) - MARGIN
    detail_after = (
        dt.datetime.combine(week, dt.time(0), dt.UTC)
        - dt.timedelta(days=7 * REPORT_WEEKS_BACK)
        - MARGIN
    )
    weigh_after = week_end_utc - dt.timedelta(days=WEIGH_IN_DAYS) - MARGIN

    started = time.perf_counter()
    with engine.connect() as conn:
        raw = read_training_history(
            conn,
            ids,
            until=upper,
            workouts_after=history_after,
            sets_after=detail_after,
        )
        weights = reads.weigh_ins(conn, ids, weigh_after, upper)
        best = prior_best_e1rm(conn, ids, detail_after)
    run.timings["read"] += time.perf_counter() - started

    started = time.perf_counter()
    history = validate_training_history(raw, generated_at)
    run.failed.update(history.failed)
    run.timezones.update(history.timezones)
    weights, weights_excluded = validate_weigh_ins(weights, generated_at)
    run.excluded_rows.update(history.excluded_rows + weights_excluded)
    users, workouts, sets = history.users, history.workouts, history.sets
    cutoff = due.set_index("user_id")["week_end"]
    users["cutoff"] = users["user_id"].map(cutoff)
    users["metrics_day"] = week_day + 6
    users["coach_requests_7d"] = 0
    # Nothing after the user's local week end counts (a re-run next month gives the same report).
    workouts = workouts[workouts["finalized_at"] < workouts["user_id"].map(cutoff)]
    sets = sets[sets["workout_id"].isin(set(workouts["workout_id"].tolist()))]
    weights = weights[weights["measured_at"] < weights["user_id"].map(cutoff)]
    tz_of = users.set_index("user_id")["tz"]
    weights = weights.assign(
        local_day=local_day_numbers(weights["measured_at"], weights["user_id"].map(tz_of))
    )
    run.timings["validate"] += time.perf_counter() - started

    started = time.perf_counter()
    everyone = len(users)

    def compute(chosen: Sequence[int]) -> tuple[pd.DataFrame, pd.DataFrame]:
        if len(chosen) == everyone:
            u, w, s, b, pb = users, workouts, sets, weights, best
        else:
            keep = set(chosen)
            u = users[users["user_id"].isin(keep)]
            w = workouts[workouts["user_id"].isin(keep)]
            s = sets[sets["user_id"].isin(keep)]
            b = weights[weights["user_id"].isin(keep)]
            pb = best[best["user_id"].isin(keep)]
        metrics = compute_behavior_metrics(u, w, s)
        profiles = u[["user_id", "sex", "birth_date", "height_cm"]]
        predictions = predict_transformations(
            b[["user_id", "local_day", "weight_kg"]], profiles, week_day
        )
        reports = build_weekly_reports(u, week_day, w, s, pb, metrics, predictions)
        return reports, predictions

    outcome = isolate(users["user_id"].tolist(), compute)
    run.failed.update(outcome.failed)
    run.bisections += max(0, outcome.calls - 1)
    run.timings["compute"] += time.perf_counter() - started
    if not outcome.results:
        return
    reports = pd.concat([r for r, _ in outcome.results], ignore_index=True)
    predictions = pd.concat([p for _, p in outcome.results], ignore_index=True)
    reports["generated_at"] = generated_at
    predictions["generated_at"] = generated_at
    predictions["week_start"] = week

    started = time.perf_counter()
    report_rows = {r["user_id"]: r for r in records_from_frame(reports, REPORT_COLUMNS)}
    prediction_rows = {p["user_id"]: p for p in records_from_frame(predictions, PREDICTION_COLUMNS)}
    policy: OnConflict = "update" if regenerate else "ignore"

    def write(conn: sa.Connection, chosen: Sequence[int]) -> list[int]:
        claimed = upsert(
            conn, "weekly_reports", [report_rows[i] for i in chosen], KEY, on_conflict=policy
        )
        claimed_ids = [int(k[0]) for k in claimed]
        upsert(
            conn,
            "transformation_predictions",
            [prediction_rows[i] for i in claimed_ids if i in prediction_rows],
            KEY,
            on_conflict="update",
        )
        return claimed_ids

    written = write_isolated(engine, [i for i in report_rows if i not in run.failed], write)
    run.failed.update(written.failed)
    run.bisections += written.bisections
    claimed_ids = [uid for batch in written.returned for uid in batch]
    run.written += len(claimed_ids)
    run.written_user_ids.extend(claimed_ids)
    run.skipped_existing += len(written.committed) - len(claimed_ids)
    run.timings["write"] += time.perf_counter() - started

    ok_predictions = predictions[predictions["user_id"].isin(set(claimed_ids))]
    run.prediction_status.update(ok_predictions["status"].astype(str).tolist())
    for flags in ok_predictions["flags"]:
        run.flags.update(list(flags or []))
    if run.sample is None and claimed_ids:
        # Prefer a user with sessions and a prediction for the preview.
        ordered = sorted(
            claimed_ids,
            key=lambda uid: (
                not (report_rows[uid].get("sessions") or 0) > 0,
                prediction_rows.get(uid, {}).get("status") != "ok",
            ),
        )
        pick = ordered[0]
        run.sample = report_rows[pick]
        run.sample_prediction = prediction_rows.get(pick)
    if written.failed:
        log("warning", f"write refused for users {sorted(written.failed)[:20]}")


# --------------------------------------------------------------------------- checks


def missing_reports(
    engine: sa.Engine, week: dt.date, *, now: dt.datetime | None = None
) -> dict[str, Any]:
    """Coverage of week ``week``: eligible users without a report once every window has closed."""
    now = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    deadline = coverage_deadline(week)
    if now < deadline:
        return {"closed": False, "deadline": deadline, "eligible": 0, "missing": []}
    with engine.connect() as conn:
        due, invalid = due_users(conn, week, "catch_up", max(now, deadline))
        existing = reads.existing_report_user_ids(conn, week)
    expected = set(due["user_id"].tolist()) | set(invalid)
    missing = sorted(expected - existing)
    return {"closed": True, "deadline": deadline, "eligible": len(expected), "missing": missing}


def sensor_due_count(conn: sa.Connection, at: dt.datetime) -> tuple[dt.date | None, int]:
    """``(week, number of eligible users inside their window without a report)`` at ``at``.

    No query at all outside the Sunday 13:00 – Monday 18:00 UTC span; inside it, one
    ``GROUP BY timezone`` and one ``COUNT`` restricted to the zones in their window.
    """
    week = week_in_window_span(at)
    if week is None:
        return None, 0
    inside, _invalid = zones_in_window(conn, week, at)
    if not inside:
        return week, 0
    u = User.__table__
    r = WeeklyReport.__table__
    has_report = sa.exists().where(r.c.user_id == u.c.id, r.c.week_start == week)
    count = conn.execute(
        sa.select(sa.func.count())
        .select_from(u)
        .where(_eligible_clause(at), _zone_clause(inside), ~has_report)
    ).scalar_one()
    return week, int(count)


def report_rows(
    engine: sa.Engine, week: dt.date, user_ids: Sequence[int] | None = None
) -> pd.DataFrame:
    t = WeeklyReport.__table__
    stmt = sa.select(t).where(t.c.week_start == week)
    if user_ids is not None:
        stmt = stmt.where(t.c.user_id.in_(list(user_ids)))
    with engine.connect() as conn:
        result = conn.execute(stmt.order_by(t.c.user_id))
        return pd.DataFrame.from_records(result.all(), columns=list(result.keys()))


__all__ = [
    "Mode",
    "WeeklyReportRun",
    "coverage_deadline",
    "due_users",
    "latest_complete_week",
    "missing_reports",
    "run_weekly",
    "sensor_due_count",
    "week_in_window_span",
    "window_span_utc",
]
