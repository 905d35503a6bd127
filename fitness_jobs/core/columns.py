"""What the behaviour metrics take from the workouts and sets, as numpy arrays: each
status judged once (by category code), instants as naive UTC, numbers as floats.  A
range run converts a block's frames once (:meth:`WorkoutColumns.of`,
:meth:`SetColumns.of`) and computes each of its days from the same arrays."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from fitness_jobs.core.arrays import LOCAL_TIME_COLUMNS, floats, utc_values

SESSION_STATUSES = ("completed", "partial")
ABANDONED = "abandoned"


def status_flags(status: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Whether each workout is a session, abandoned, completed: judged once per distinct
    status and looked up by category code, not by comparing every row's string (a
    categorical column is used as it is)."""
    categorical = status if isinstance(status.dtype, pd.CategoricalDtype) else None
    if categorical is None:
        categorical = status.astype(object).astype("category")
    codes = categorical.cat.codes.to_numpy()
    names = categorical.cat.categories.to_numpy(dtype=object)

    def flag(values: tuple[str, ...]) -> np.ndarray:
        lookup = np.append(np.isin(names, values), False)  # code −1 (missing): False
        return lookup[codes]

    return flag(SESSION_STATUSES), flag((ABANDONED,)), flag(("completed",))


@dataclass(frozen=True)
class WorkoutColumns:
    """The workout values the metrics use, one numpy array each, converted from a frame
    once (:meth:`of`): a range run converts a block's workouts once and computes each of
    its days from the same arrays.  ``day`` and ``minute`` (local day number of
    ``finalized_at``, local minute of day of ``started_at``) are there when the frame
    had them (``core.arrays.with_local_times``)."""

    user_id: np.ndarray
    workout_id: np.ndarray
    session: np.ndarray
    abandoned: np.ndarray
    completed: np.ndarray
    finalized: np.ndarray  # naive UTC datetime64[us], NaT when missing
    started: np.ndarray
    duration: np.ndarray
    rpe: np.ndarray
    day: np.ndarray | None = None
    minute: np.ndarray | None = None

    @classmethod
    def of(cls, workouts: pd.DataFrame) -> WorkoutColumns:
        session, abandoned, completed = status_flags(workouts["status"])
        local = LOCAL_TIME_COLUMNS.issubset(workouts.columns)
        return cls(
            user_id=workouts["user_id"].to_numpy(),
            workout_id=workouts["workout_id"].to_numpy(),
            session=session,
            abandoned=abandoned,
            completed=completed,
            finalized=utc_values(workouts["finalized_at"]),
            started=utc_values(workouts["started_at"]),
            duration=floats(workouts["duration_seconds"]),
            rpe=floats(workouts["session_rpe"]),
            day=workouts["finalized_day"].to_numpy(dtype=np.int64) if local else None,
            minute=workouts["started_minute"].to_numpy(dtype=float) if local else None,
        )


@dataclass(frozen=True)
class SetColumns:
    """The set values the volume load uses: each set's workout, its ``reps × weight_kg``
    and whether it counts (a working set with a finite volume)."""

    workout_id: np.ndarray
    volume: np.ndarray
    counts: np.ndarray

    @classmethod
    def of(cls, sets: pd.DataFrame) -> SetColumns:
        if not len(sets):
            return cls(np.empty(0, dtype=np.int64), np.empty(0), np.empty(0, dtype=bool))
        warm = sets["is_warmup"].astype("boolean").fillna(False).to_numpy(dtype=bool)
        volume = floats(sets["reps"]) * floats(sets["weight_kg"])
        return cls(sets["workout_id"].to_numpy(), volume, ~warm & np.isfinite(volume))
