"""Helpers shared by both jobs' reads: which users need their sets one by one, and
workout summaries standing in for sets."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pandas as pd

from fitness_jobs.pipelines.history import inexact_volume_users, split_inexact, summaries_as_sets
from fitness_jobs.pipelines.runner import Validated


def test_users_with_a_set_off_the_quarter_grid_need_their_sets() -> None:
    sets = pd.DataFrame(
        {
            "user_id": [1, 1, 2, 3, 4, 4],
            "reps": [5, 8, 5, 5, 3, 1],
            # whole quarters (exact sums) for users 1 and 4; 72.3 kg is not one; NaN is
            # not a number at all (the validation drops it, but the check is conservative)
            "weight_kg": [72.25, 0.0, 72.3, math.nan, 102.5, 600.0],
        }
    )
    assert inexact_volume_users(sets).tolist() == [2, 3]
    assert inexact_volume_users(sets.iloc[:0]).tolist() == []


def test_summaries_of_kept_workouts_become_one_set_of_their_volume() -> None:
    summaries = pd.DataFrame(
        {
            "workout_id": [10, 11, 12],
            "user_id": [1, 1, 2],
            "sets": [4, 3, 2],
            "invalid_reps": [1, 0, 0],
            "invalid_weight": [0, 2, 1],
            "volume_16ths": [16 * 1250, 16 * 30 + 4, 0],
            "inexact": [0, 0, 0],
        }
    )
    workouts = pd.DataFrame({"workout_id": [10, 11]})  # workout 12 was excluded
    valid = Validated(frames={"workouts": workouts}, failed={}, excluded_rows=Counter())
    sets = summaries_as_sets(valid, summaries)
    assert sets["workout_id"].tolist() == [10, 11]
    assert sets["weight_kg"].tolist() == [1250.0, 30.25] and set(sets["reps"]) == {1.0}
    assert not sets["is_warmup"].any() and (sets["set_id"].to_numpy() == 0).all()
    assert sets["user_id"].dtype == np.int64
    # counted as validate_sets counts the rows themselves
    assert valid.excluded_rows == Counter(
        {"invalid_reps": 1, "invalid_set_weight": 2, "workout_excluded": 2}
    )


def test_split_inexact_keeps_the_summaries_of_exact_users_only() -> None:
    summaries = pd.DataFrame(
        {"workout_id": [10, 11, 12, 13], "user_id": [1, 1, 2, 3], "inexact": [0, 1, 0, 0]}
    )
    exact, inexact = split_inexact(summaries)
    assert exact["workout_id"].tolist() == [12, 13] and inexact.tolist() == [1]
    # users with an inexact set elsewhere (sets read one by one) lose their summaries too
    exact, inexact = split_inexact(summaries, also=np.array([3, 7], dtype=np.int64))
    assert exact["workout_id"].tolist() == [12] and inexact.tolist() == [1, 3, 7]
