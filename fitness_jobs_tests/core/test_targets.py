"""The weekly session target ``T`` (design §5): whole number ≥ 1 as given, else 3."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from fitness_jobs.core.targets import weekly_targets


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, 3),
        (math.nan, 3),
        (math.inf, 3),
        (-math.inf, 3),
        (0, 3),
        (-2, 3),
        (0.5, 3),
        (2.5, 3),  # not whole: the default, not 2 (floor) or 2/3 (rounding)
        (3.0000001, 3),
        (4.9999, 3),
        (1, 1),
        (4, 4),
        (4.0, 4),
        (7, 7),
        (21, 21),  # used as given, however ambitious
        ("5", 5),
        ("five", 3),
    ],
)
def test_weekly_target_rule(raw: object, expected: int) -> None:
    out = weekly_targets([raw])
    assert out.dtype == np.int64
    assert out.tolist() == [expected]


def test_vectorised_over_series_of_any_dtype() -> None:
    floats = pd.Series([np.nan, 0.0, 2.5, 4.0, 1.0], index=[10, 11, 12, 13, 14])
    assert weekly_targets(floats).tolist() == [3, 3, 3, 4, 1]
    nullable = pd.Series([pd.NA, 0, 4, 2], dtype="Int64")  # what a smallint column reads as
    assert weekly_targets(nullable).tolist() == [3, 3, 4, 2]
    assert weekly_targets(pd.Series([], dtype=float)).tolist() == []
