"""Training content of the weekly report: volume by week, hard sets, top lifts and records.

Everything works on :class:`SessionSets`, the sets of the users' *sessions* (completed or
partial workouts) up to the end of the reported week, each placed on its user's row and
on the local day of its session relative to ``W``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from fitness_jobs.core.calendar import date_of
from fitness_jobs.core.loads import daily_matrix
from fitness_jobs.core.report.common import (
    HISTORY_WEEKS,
    MAX_E1RM_REPS,
    PR_EPSILON_KG,
    SECONDARY_WEIGHT,
    TOP_LIFTS,
    nums,
)


def hard_set_bands(sets: np.ndarray) -> np.ndarray:
    """Weekly hard-set band of each count: low < 5 ≤ moderate < 10 ≤ recommended ≤ 20 <
    high."""
    sets = np.asarray(sets, dtype=float)
    return np.select(
        [sets < 5, sets < 10, sets <= 20], ["low", "moderate", "recommended"], "high"
    ).astype(object)


def hard_set_band(sets: float) -> str:
    """:func:`hard_set_bands` of one count."""
    return str(hard_set_bands(np.array([sets]))[0])


def epley_e1rm(weight_kg: np.ndarray, reps: np.ndarray) -> np.ndarray:
    """Epley e1RM per set: ``w`` at 1 rep, ``w·(1 + r/30)`` for 2–10 reps, NaN otherwise.

    A set without a positive weight (0 kg: body weight) has no e1RM.
    """
    w = np.asarray(weight_kg, dtype=float)
    r = np.asarray(reps, dtype=float)
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(w) & (w > 0) & np.isfinite(r) & (r >= 1) & (r <= MAX_E1RM_REPS)
        return np.where(valid, np.where(r == 1, w, w * (1.0 + r / 30.0)), np.nan)


def _working(is_warmup: pd.Series) -> np.ndarray:
    warm = is_warmup.astype(object).where(is_warmup.notna(), False).astype(bool)
    return ~warm.to_numpy(dtype=bool)


def _muscle(values: np.ndarray) -> np.ndarray:
    """Muscle-group names stripped; missing or blank → None (one pass per distinct value)."""
    codes, uniques = pd.factorize(pd.Series(values, dtype=object))
    cleaned = [u.strip() or None if isinstance(u, str) else None for u in uniques]
    return np.asarray([*cleaned, None], dtype=object)[codes]  # code −1 (missing) → None


@dataclass(frozen=True)
class SessionSets:
    """Sets of sessions, one entry per set (aligned arrays)."""

    row: np.ndarray  # user row
    rel: np.ndarray  # local day of the session − W (≤ 6)
    reps: np.ndarray
    weight: np.ndarray
    working: np.ndarray  # not a warm-up (NULL counts as working)
    exercise: np.ndarray
    muscle: np.ndarray
    secondary: np.ndarray
    # A set itself, not one standing for a workout's summed volume (``summary`` true in
    # the input: no exercise, no e1RM, only volume; always before week ``W``).
    detailed: np.ndarray

    @classmethod
    def of(
        cls, sets: pd.DataFrame, workout_id: np.ndarray, row: np.ndarray, rel: np.ndarray
    ) -> SessionSets:
        """The rows of ``sets`` whose workout is one of the sessions ``workout_id``."""
        sess = pd.DataFrame({"workout_id": workout_id, "row": row, "rel": rel}).drop_duplicates(
            "workout_id"
        )
        pos = pd.Index(sess["workout_id"]).get_indexer(sets["workout_id"])
        chosen = sets.loc[pos >= 0]
        pos = pos[pos >= 0]
        return cls(
            row=sess["row"].to_numpy()[pos],
            rel=sess["rel"].to_numpy()[pos],
            reps=pd.to_numeric(chosen["reps"], errors="coerce").to_numpy(dtype=float),
            weight=pd.to_numeric(chosen["weight_kg"], errors="coerce").to_numpy(dtype=float),
            working=_working(chosen["is_warmup"]),
            exercise=chosen["exercise"].astype(str).to_numpy(),
            muscle=chosen["muscle_group"].to_numpy(),
            secondary=chosen["secondary_muscle_group"].to_numpy(),
            detailed=(
                ~chosen["summary"].to_numpy(dtype=bool)
                if "summary" in chosen.columns
                else np.ones(len(chosen), dtype=bool)
            ),
        )


def volume_by_week(ss: SessionSets, n: int) -> np.ndarray:
    """``(n, HISTORY_WEEKS + 1)`` volume load (Σ reps × kg of working sets) of the weeks
    ``W − 28 … W`` (column ``HISTORY_WEEKS`` is ``W``); a non-finite product counts 0."""
    vol = np.where(ss.working, ss.reps * ss.weight, 0.0)
    vol = np.where(np.isfinite(vol), vol, 0.0)
    in_hist = ss.rel >= -7 * HISTORY_WEEKS
    week_col = np.floor_divide(ss.rel, 7) + HISTORY_WEEKS
    return daily_matrix(ss.row[in_hist], week_col[in_hist], vol[in_hist], n, HISTORY_WEEKS + 1)


def hard_sets_by_row(ss: SessionSets) -> dict[int, list[dict[str, Any]]]:
    """Hard sets per muscle group in week ``W`` (working sets; primary 1, secondary 0.5),
    most sets first, ties by name."""
    mask = ss.working & ss.detailed & (ss.rel >= 0)
    primary = pd.DataFrame({"row": ss.row[mask], "muscle": _muscle(ss.muscle[mask]), "sets": 1.0})
    secondary = pd.DataFrame(
        {"row": ss.row[mask], "muscle": _muscle(ss.secondary[mask]), "sets": SECONDARY_WEIGHT}
    )
    hard = pd.concat([primary, secondary], ignore_index=True)
    hard = hard[hard["muscle"].notna()]
    hard = hard.groupby(["row", "muscle"], sort=False)["sets"].sum().reset_index()
    hard = hard.sort_values(["row", "sets", "muscle"], ascending=[True, False, True])
    n_sets = hard["sets"].to_numpy(dtype=float)
    bands = hard_set_bands(n_sets)
    out: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for r, muscle, count, band in zip(
        hard["row"].to_numpy(dtype=np.int64).tolist(),
        hard["muscle"].astype(str).tolist(),
        n_sets.tolist(),
        bands.tolist(),
        strict=True,
    ):
        out[r].append({"muscle_group": muscle, "hard_sets": count, "band": band})
    return out


@dataclass
class Lifts:
    """Per user row: the top lifts, the personal records and the first-time exercises."""

    top: dict[int, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    records: dict[int, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    first_time: dict[int, list[str]] = field(default_factory=lambda: defaultdict(list))


def lifts_and_records(
    ss: SessionSets, week_start_day: int, user_index: pd.Index, prior_best_e1rm: pd.DataFrame
) -> Lifts:
    """Best e1RM set per exercise in week ``W`` (top :data:`TOP_LIFTS`) and records.

    A record is a week best strictly above (by more than ``PR_EPSILON_KG``) every earlier
    best: ``prior_best_e1rm`` (``user_id``, ``exercise``, ``best_e1rm``: history before the
    sets supplied; a non-positive value is not an e1RM and is ignored) and the supplied sets
    of earlier days.  Sets without an e1RM (warm-ups, 0 kg, over 10 reps) are neither lifts
    nor history; an exercise without an earlier e1RM is ``first_time``, never a record.
    """
    w = int(week_start_day)
    e1 = epley_e1rm(ss.weight, ss.reps)
    mask = ss.working & ss.detailed & np.isfinite(e1)
    lifts = pd.DataFrame(
        {
            "row": ss.row[mask],
            "rel": ss.rel[mask],
            "exercise": ss.exercise[mask],
            "e1rm": e1[mask],
            "weight_kg": ss.weight[mask],
            "reps": ss.reps[mask],
        }
    )
    earlier = lifts[lifts["rel"] < 0].groupby(["row", "exercise"])["e1rm"].max()
    prior = pd.DataFrame(
        {
            "row": user_index.get_indexer(pd.Index(prior_best_e1rm["user_id"])),
            "exercise": prior_best_e1rm["exercise"].astype(str).to_numpy(),
            "e1rm": pd.to_numeric(prior_best_e1rm["best_e1rm"], errors="coerce").to_numpy(
                dtype=float
            ),
        }
    )
    prior_e1rm = prior["e1rm"].to_numpy()
    prior = prior[(prior["row"] >= 0) & np.isfinite(prior_e1rm) & (prior_e1rm > 0)]
    previous = (
        pd.concat([earlier.reset_index(), prior], ignore_index=True)
        .groupby(["row", "exercise"])["e1rm"]
        .max()
        .rename("previous_best")
    )
    best = (
        lifts[lifts["rel"] >= 0]
        .sort_values(
            ["row", "exercise", "e1rm", "weight_kg", "rel"],
            ascending=[True, True, False, False, True],
        )
        .drop_duplicates(["row", "exercise"])
    )
    best = best.join(previous, on=["row", "exercise"])
    best["first_time"] = best["previous_best"].isna()
    best["personal_record"] = best["previous_best"].notna() & (
        best["e1rm"] > best["previous_best"] + PR_EPSILON_KG
    )
    best = best.sort_values(["row", "e1rm", "exercise"], ascending=[True, False, True])
    best["rank"] = best.groupby("row").cumcount()

    out = Lifts()
    e1rm, previous_best = best["e1rm"].to_numpy(), best["previous_best"].to_numpy(dtype=float)
    days = [date_of(w + d).isoformat() for d in range(7)]  # the week's lifts only
    for r, rel, exercise, e1, wkg, rp, prev, gain, first, pr, rank in zip(
        best["row"].to_numpy(dtype=np.int64).tolist(),
        best["rel"].to_numpy(dtype=np.int64).tolist(),
        best["exercise"].astype(str).tolist(),
        nums(e1rm),
        nums(best["weight_kg"].to_numpy()),
        best["reps"].to_numpy().astype(np.int64).tolist(),
        nums(previous_best),
        nums(e1rm - previous_best),
        best["first_time"].to_numpy(dtype=bool).tolist(),
        best["personal_record"].to_numpy(dtype=bool).tolist(),
        best["rank"].to_numpy(dtype=np.int64).tolist(),
        strict=True,
    ):
        entry = {
            "exercise": exercise,
            "e1rm_kg": e1,
            "weight_kg": wkg,
            "reps": rp,
            "date": days[rel],
            "previous_best_e1rm_kg": prev,
            "personal_record": pr,
            "first_time": first,
        }
        if rank < TOP_LIFTS:
            out.top[r].append(entry)
        if pr:
            out.records[r].append({**entry, "improvement_kg": gain})
        if first:
            out.first_time[r].append(exercise)
    return out
