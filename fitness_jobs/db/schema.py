"""SQLAlchemy 2.0 models of the app tables (read) and the job tables (written).

Column names are the contract of docs/design.md §3 and §4.  The same models work on
PostgreSQL (``timestamptz``, ``date``, ``boolean``, ``jsonb``) and on SQLite (UTC
timestamps in SQLAlchemy's default text form, dates ``YYYY-MM-DD``, booleans 0/1).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timestamp that is always UTC and always timezone-aware in Python.

    PostgreSQL stores ``timestamptz``.  SQLite has no time zones, so values are
    converted to UTC and stored naive (SQLAlchemy's default text form); reads
    attach UTC again.  Naive inputs are taken to be UTC.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if not isinstance(value, dt.datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        value = value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


JSONType = sa.JSON().with_variant(JSONB(), "postgresql")
BigIntPK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite rowid alias


class Base(DeclarativeBase):
    pass


# --------------------------------------------------------------------------- app tables


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    email: Mapped[str] = mapped_column(sa.Text)
    timezone: Mapped[str | None] = mapped_column(sa.Text)
    plan: Mapped[str] = mapped_column(sa.Text, default="free")
    trial_ends_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    weekly_session_target: Mapped[int | None] = mapped_column(sa.SmallInteger)
    sex: Mapped[str | None] = mapped_column(sa.Text)
    birth_date: Mapped[dt.date | None] = mapped_column(sa.Date)
    height_cm: Mapped[float | None] = mapped_column(sa.REAL)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (sa.Index("ix_users_plan", "plan"),)


class Workout(Base):
    __tablename__ = "workouts"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.BigInteger, sa.ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(sa.Text)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    finalized_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    duration_seconds: Mapped[int | None] = mapped_column(sa.Integer)
    session_rpe: Mapped[int | None] = mapped_column(sa.SmallInteger)

    __table_args__ = (
        # per-user history reads
        sa.Index("ix_workouts_user_finalized", "user_id", "finalized_at"),
        # active-user selection: finalized in (as_of - 30 days, as_of]
        sa.Index("ix_workouts_finalized_user", "finalized_at", "user_id"),
    )


class WorkoutSet(Base):
    __tablename__ = "workout_sets"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    workout_id: Mapped[int] = mapped_column(sa.BigInteger, sa.ForeignKey("workouts.id"))
    exercise: Mapped[str] = mapped_column(sa.Text)
    muscle_group: Mapped[str] = mapped_column(sa.Text)
    secondary_muscle_group: Mapped[str | None] = mapped_column(sa.Text)
    reps: Mapped[int] = mapped_column(sa.Integer)
    weight_kg: Mapped[float] = mapped_column(sa.REAL)
    rpe: Mapped[float | None] = mapped_column(sa.REAL)
    is_warmup: Mapped[bool] = mapped_column(sa.Boolean, default=False)

    __table_args__ = (sa.Index("ix_workout_sets_workout", "workout_id"),)


class BodyWeightLog(Base):
    __tablename__ = "body_weight_logs"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.BigInteger, sa.ForeignKey("users.id"))
    measured_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    weight_kg: Mapped[float] = mapped_column(sa.REAL)

    __table_args__ = (sa.Index("ix_body_weight_logs_user_measured", "user_id", "measured_at"),)


class LlmUsageDaily(Base):
    __tablename__ = "llm_usage_daily"

    user_id: Mapped[int] = mapped_column(sa.BigInteger, sa.ForeignKey("users.id"), primary_key=True)
    usage_date: Mapped[dt.date] = mapped_column(sa.Date, primary_key=True)
    request_count: Mapped[int] = mapped_column(sa.Integer, default=0)
    input_tokens: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    output_tokens: Mapped[int] = mapped_column(sa.BigInteger, default=0)

    __table_args__ = (sa.Index("ix_llm_usage_daily_date", "usage_date"),)


# --------------------------------------------------------------------------- job tables


class UserBehaviorMetrics(Base):
    __tablename__ = "user_behavior_metrics"

    user_id: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True)
    metrics_date: Mapped[dt.date] = mapped_column(sa.Date, primary_key=True)
    snapshot_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    computed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    timezone: Mapped[str] = mapped_column(sa.Text)
    metrics_version: Mapped[int] = mapped_column(sa.SmallInteger)

    sessions_7d: Mapped[int] = mapped_column(sa.Integer)
    sessions_28d: Mapped[int] = mapped_column(sa.Integer)
    sessions_30d: Mapped[int] = mapped_column(sa.Integer)
    completed_28d: Mapped[int] = mapped_column(sa.Integer)
    partial_28d: Mapped[int] = mapped_column(sa.Integer)
    abandoned_28d: Mapped[int] = mapped_column(sa.Integer)
    completion_rate_28d: Mapped[float | None] = mapped_column(sa.Float)
    weekly_target: Mapped[int] = mapped_column(sa.SmallInteger)
    adherence_4w: Mapped[float] = mapped_column(sa.Float)
    current_streak_weeks: Mapped[int] = mapped_column(sa.Integer)
    longest_streak_weeks: Mapped[int] = mapped_column(sa.Integer)
    days_since_last_session: Mapped[int | None] = mapped_column(sa.Integer)
    gap_median_days: Mapped[float | None] = mapped_column(sa.Float)
    gap_p90_days: Mapped[float | None] = mapped_column(sa.Float)
    lapse_risk: Mapped[str] = mapped_column(sa.Text)
    preferred_hour_local: Mapped[float | None] = mapped_column(sa.Float)
    timing_consistency: Mapped[float | None] = mapped_column(sa.Float)
    preferred_weekday: Mapped[int | None] = mapped_column(sa.SmallInteger)
    weekly_sessions_cv_8w: Mapped[float | None] = mapped_column(sa.Float)
    volume_load_7d: Mapped[float] = mapped_column(sa.Float)
    volume_load_prev_7d: Mapped[float] = mapped_column(sa.Float)
    volume_change_pct: Mapped[float | None] = mapped_column(sa.Float)
    srpe_load_7d: Mapped[float] = mapped_column(sa.Float)
    minutes_7d: Mapped[float] = mapped_column(sa.Float)
    ctl: Mapped[float] = mapped_column(sa.Float)
    atl: Mapped[float] = mapped_column(sa.Float)
    tsb: Mapped[float] = mapped_column(sa.Float)
    acwr: Mapped[float | None] = mapped_column(sa.Float)
    coach_requests_7d: Mapped[int] = mapped_column(sa.Integer)

    __table_args__ = (sa.Index("ix_user_behavior_metrics_date", "metrics_date"),)


class WeeklyReport(Base):
    __tablename__ = "weekly_reports"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(sa.BigInteger)
    week_start: Mapped[dt.date] = mapped_column(sa.Date)
    generated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    report_version: Mapped[int] = mapped_column(sa.SmallInteger)
    timezone: Mapped[str] = mapped_column(sa.Text)
    sessions: Mapped[int] = mapped_column(sa.Integer)
    session_target: Mapped[int] = mapped_column(sa.SmallInteger)
    completion_rate: Mapped[float | None] = mapped_column(sa.Float)
    volume_load_kg: Mapped[float] = mapped_column(sa.Float)
    volume_change_pct_prev_week: Mapped[float | None] = mapped_column(sa.Float)
    volume_change_pct_4w_avg: Mapped[float | None] = mapped_column(sa.Float)
    srpe_load: Mapped[float] = mapped_column(sa.Float)
    ctl: Mapped[float] = mapped_column(sa.Float)
    tsb: Mapped[float] = mapped_column(sa.Float)
    acwr: Mapped[float | None] = mapped_column(sa.Float)
    acwr_flag: Mapped[str | None] = mapped_column(sa.Text)
    monotony: Mapped[float | None] = mapped_column(sa.Float)
    streak_weeks: Mapped[int] = mapped_column(sa.Integer)
    lapse_risk: Mapped[str | None] = mapped_column(sa.Text)  # NULL: no session ever
    trend_weight_kg: Mapped[float | None] = mapped_column(sa.Float)
    weight_change_kg_per_week: Mapped[float | None] = mapped_column(sa.Float)
    prediction_status: Mapped[str | None] = mapped_column(sa.Text)
    report: Mapped[dict[str, Any]] = mapped_column(JSONType)
    summary_text: Mapped[str] = mapped_column(sa.Text)

    __table_args__ = (
        sa.UniqueConstraint("user_id", "week_start", name="uq_weekly_reports_user_week"),
        sa.Index("ix_weekly_reports_week", "week_start"),
    )


class TransformationPrediction(Base):
    __tablename__ = "transformation_predictions"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(sa.BigInteger)
    week_start: Mapped[dt.date] = mapped_column(sa.Date)
    generated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(sa.Text)
    method: Mapped[str] = mapped_column(sa.Text)
    weigh_in_count: Mapped[int] = mapped_column(sa.Integer)
    trend_weight_kg: Mapped[float | None] = mapped_column(sa.Float)
    rate_kg_per_week: Mapped[float | None] = mapped_column(sa.Float)
    rate_pct_bw_per_week: Mapped[float | None] = mapped_column(sa.Float)
    tau_days: Mapped[float | None] = mapped_column(sa.Float)
    projected_4w_kg: Mapped[float | None] = mapped_column(sa.Float)
    projected_4w_kg_low: Mapped[float | None] = mapped_column(sa.Float)
    projected_4w_kg_high: Mapped[float | None] = mapped_column(sa.Float)
    projected_8w_kg: Mapped[float | None] = mapped_column(sa.Float)
    projected_8w_kg_low: Mapped[float | None] = mapped_column(sa.Float)
    projected_8w_kg_high: Mapped[float | None] = mapped_column(sa.Float)
    projected_12w_kg: Mapped[float | None] = mapped_column(sa.Float)
    projected_12w_kg_low: Mapped[float | None] = mapped_column(sa.Float)
    projected_12w_kg_high: Mapped[float | None] = mapped_column(sa.Float)
    flags: Mapped[list[str]] = mapped_column(JSONType)

    __table_args__ = (
        sa.UniqueConstraint(
            "user_id", "week_start", name="uq_transformation_predictions_user_week"
        ),
        sa.Index("ix_transformation_predictions_week", "week_start"),
    )


class CoachUsageDaily(Base):
    __tablename__ = "coach_usage_daily"

    usage_date: Mapped[dt.date] = mapped_column(sa.Date, primary_key=True)
    users_with_usage: Mapped[int] = mapped_column(sa.Integer)
    total_requests: Mapped[int] = mapped_column(sa.BigInteger)
    total_input_tokens: Mapped[int] = mapped_column(sa.BigInteger)
    total_output_tokens: Mapped[int] = mapped_column(sa.BigInteger)
    p95_requests_per_user: Mapped[float | None] = mapped_column(sa.Float)
    max_requests_per_user: Mapped[int | None] = mapped_column(sa.Integer)
    computed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class PersonalBest(Base):
    """A user's best e1RM per exercise, kept so that a weekly run need not read every
    earlier set again (``db.personal_bests``).  Valid as far as the user's
    :class:`PersonalBestMark` says; ``best_e1rm`` NULL: no best any more (a regeneration
    found none where one was kept; the jobs' role has no DELETE)."""

    __tablename__ = "personal_bests"

    user_id: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True)
    exercise: Mapped[str] = mapped_column(sa.Text, primary_key=True)
    best_e1rm: Mapped[float | None] = mapped_column(sa.Float)


class PersonalBestMark(Base):
    """What a user's kept bests cover: every set with an id up to ``set_id`` of the
    sessions finalized up to ``finalized_through``."""

    __tablename__ = "personal_best_marks"

    user_id: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True)
    finalized_through: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    set_id: Mapped[int] = mapped_column(sa.BigInteger)


APP_TABLES = ("users", "workouts", "workout_sets", "body_weight_logs", "llm_usage_daily")
JOB_TABLES = (
    "user_behavior_metrics",
    "weekly_reports",
    "transformation_predictions",
    "coach_usage_daily",
)
# Kept by the weekly job to bound its reads (design §11); optional: without them a run
# reads every earlier set, as before they existed.
KEPT_TABLES = ("personal_bests", "personal_best_marks")
