"""One block of users as pandas frames, one per app table, plus ``personas``.

``block_frames`` runs the generator steps (population → workouts → deletions → sets →
weigh-ins → coach usage, each on its own child stream of the block's seed) and lays the
results out with the schema's columns: explicit contiguous ids starting at the block's
``Ids``, tz-aware UTC timestamps (NaT for NULL), ``datetime.date`` dates, pandas ``Int64``
for nullable integers, categoricals for repeated text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import pandas as pd

from fitness_jobs.demo.catalog import (
    EX_NAMES,
    EX_PRIMARY,
    EX_SECONDARY,
    MUSCLES,
    P_RETURNING,
    PERSONAS,
    PLANS,
    STATUSES,
    WEIGH_FREQUENCIES,
    WEIGHT_TRENDS,
    ZONE_NAMES,
)
from fitness_jobs.demo.coach_usage import make_coach_usage
from fitness_jobs.demo.config import NAT, BoolArray, Calendar, FloatArray, IntArray
from fitness_jobs.demo.population import make_population
from fitness_jobs.demo.sets import make_sets
from fitness_jobs.demo.weigh_ins import make_weigh_ins
from fitness_jobs.demo.workouts import make_deletions, make_workouts

META_FRAMES: tuple[str, ...] = ("personas", "bad_rows")
"""Frames returned by ``generate_demo`` that are not app tables (``write_demo`` ignores them)."""


def timestamps(us: IntArray) -> pd.Series:
    """int64 µs since the epoch (NAT → NaT) as a tz-aware UTC Series."""
    idx = pd.DatetimeIndex(np.asarray(us, dtype=np.int64).view("datetime64[us]"))
    return pd.Series(idx.tz_localize("UTC"))


def dates(day_numbers: IntArray, missing: BoolArray | None = None) -> npt.NDArray[np.object_]:
    out = np.asarray(day_numbers, dtype=np.int64).astype("datetime64[D]").astype(object)
    if missing is not None:
        out[missing] = None
    return out


def categorical(codes: npt.NDArray[Any], categories: list[str]) -> pd.Categorical[str]:
    """Categorical from integer codes (-1 = missing) without a Python-level pass."""
    return pd.Categorical.from_codes(cast(Any, codes), categories=pd.Index(categories))


def nullable_int(values: FloatArray) -> pd.Series:
    """Float array with NaN for NULL → pandas nullable Int64."""
    arr = pd.array(np.where(np.isnan(values), 0, values).astype(np.int64), dtype="Int64")
    arr[np.isnan(values)] = pd.NA
    return pd.Series(arr)


@dataclass(frozen=True)
class Ids:
    """The first id of each id column in a block (ids are explicit and contiguous)."""

    user: int
    workout: int
    set: int
    weigh_in: int

    def after(self, frames: dict[str, pd.DataFrame]) -> Ids:
        """The first ids of the block that follows ``frames``."""
        return Ids(
            self.user + len(frames["users"]),
            self.workout + len(frames["workouts"]),
            self.set + len(frames["workout_sets"]),
            self.weigh_in + len(frames["body_weight_logs"]),
        )


def block_frames(
    ss: np.random.SeedSequence,
    n: int,
    cal: Calendar,
    ids: Ids,
    bad_zones: list[str] | None = None,
) -> dict[str, pd.DataFrame]:
    """One block of ``n`` users from the stream ``ss``: app frames plus ``personas``."""
    r_pop, r_wk, r_del, r_sets, r_bw, r_llm = (np.random.default_rng(s) for s in ss.spawn(6))
    pop = make_population(r_pop, n, cal, bad_zones)
    wk = make_workouts(r_wk, pop, cal, extra_in_progress=bad_zones is None)
    if bad_zones is None:
        deleted_us, deleted_kind = make_deletions(r_del, pop, wk, cal)
    else:
        deleted_us, deleted_kind = np.full(n, NAT, dtype=np.int64), np.full(n, None, dtype=object)
    sets = make_sets(r_sets, pop, wk)
    bw = make_weigh_ins(r_bw, pop, cal)
    use = make_coach_usage(r_llm, pop, cal)

    user_ids = ids.user + np.arange(n, dtype=np.int64)
    workout_ids = ids.workout + np.arange(len(wk.user), dtype=np.int64)
    users = pd.DataFrame(
        {
            "id": user_ids,
            "email": pd.Series([f"user{i}@example.com" for i in user_ids.tolist()], dtype=object),
            "timezone": pd.Series(pop.tz_stored, dtype=object),
            "plan": pd.Series(np.array(PLANS, dtype=object)[pop.plan], dtype=object),
            "trial_ends_at": timestamps(pop.trial_ends_us),
            "weekly_session_target": nullable_int(pop.target),
            "sex": pd.Series(pop.sex, dtype=object),
            "birth_date": pd.Series(dates(pop.birth_day, pop.birth_missing), dtype=object),
            "height_cm": pop.height,
            "created_at": timestamps(pop.created_us),
            "deleted_at": timestamps(deleted_us),
        }
    )
    workouts = pd.DataFrame(
        {
            "id": workout_ids,
            "user_id": user_ids[wk.user],
            "status": categorical(wk.status, list(STATUSES)),
            "started_at": timestamps(wk.start_us),
            "finalized_at": timestamps(wk.fin_us),
            "duration_seconds": nullable_int(wk.duration),
            "session_rpe": nullable_int(wk.rpe),
        }
    )
    workout_sets = pd.DataFrame(
        {
            "id": np.arange(ids.set, ids.set + len(sets.workout), dtype=np.int64),
            "workout_id": sets.workout + ids.workout,
            "exercise": categorical(sets.exercise, EX_NAMES),
            "muscle_group": categorical(EX_PRIMARY.astype(np.int8)[sets.exercise], MUSCLES),
            "secondary_muscle_group": categorical(
                EX_SECONDARY.astype(np.int8)[sets.exercise], MUSCLES
            ),
            "reps": sets.reps,
            "weight_kg": sets.weight,
            "rpe": sets.rpe,
            "is_warmup": sets.warmup,
        }
    )
    body_weight_logs = pd.DataFrame(
        {
            "id": ids.weigh_in + np.arange(len(bw.user), dtype=np.int64),
            "user_id": user_ids[bw.user],
            "measured_at": timestamps(bw.measured_us),
            "weight_kg": bw.weight,
        }
    )
    llm_usage_daily = pd.DataFrame(
        {
            "user_id": user_ids[use.user],
            "usage_date": pd.Series(dates(cal.start_day + use.day), dtype=object),
            "request_count": use.requests,
            "input_tokens": use.input_tokens,
            "output_tokens": use.output_tokens,
        }
    )

    def _opt(codes: IntArray, names: tuple[str, ...]) -> pd.Series:
        out = np.full(len(codes), None, dtype=object)
        ok = codes >= 0
        out[ok] = np.array(names, dtype=object)[codes[ok]]
        return pd.Series(out, dtype=object)

    weekdays = [",".join(str(d) for d in np.flatnonzero(row)) for row in pop.pref_days]
    resumed = np.where(pop.persona == P_RETURNING, cal.start_day + pop.gap_b, 0)
    personas = pd.DataFrame(
        {
            "user_id": user_ids,
            "persona": pd.Series(np.array(PERSONAS, dtype=object)[pop.persona], dtype=object),
            "timezone": pd.Series(np.array(ZONE_NAMES, dtype=object)[pop.zone], dtype=object),
            "preferred_hour_local": pop.pref_hour,
            "preferred_weekdays": pd.Series(weekdays, dtype=object),
            "sessions_per_week": pop.freq,
            "activity_end": pd.Series(dates(cal.start_day + pop.win_b), dtype=object),
            "resumed_on": pd.Series(dates(resumed, pop.persona != P_RETURNING), dtype=object),
            "weigh_in_frequency": _opt(pop.weigh_freq, WEIGH_FREQUENCIES),
            "weight_trend": _opt(pop.weight_trend, WEIGHT_TRENDS),
            "weight_slope_kg_per_week": pop.slope_kg_week,
            "coach_user": pop.coach,
            "deleted": pd.Series(deleted_kind, dtype=object),
        }
    )
    return {
        "users": users,
        "workouts": workouts,
        "workout_sets": workout_sets,
        "body_weight_logs": body_weight_logs,
        "llm_usage_daily": llm_usage_daily,
        "personas": personas,
    }
