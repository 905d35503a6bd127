"""The weekly session target ``T`` (design §5): one rule for the nightly metrics and the report.

``T`` = ``users.weekly_session_target`` when it is a whole number ≥ 1, used as given;
anything else (NULL, NaN/±∞, a non-whole value such as 2.5, 0 or a negative number,
unparseable text) → :data:`DEFAULT_WEEKLY_TARGET` (3).

"Whole" means exactly integral as a float: 4.0 is 4, 2.5 and 3.0000001 are not whole and
give 3 (they are not rounded or truncated).  The column is a ``smallint`` on PostgreSQL, but
SQLite keeps whatever the app wrote, so the rule is checked here and not assumed.

Nothing here imports dagster or touches a database.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

DEFAULT_WEEKLY_TARGET = 3


def weekly_targets(values: Any) -> np.ndarray:
    """``T`` for each raw ``weekly_session_target`` value, as an ``int64`` array."""
    raw = pd.to_numeric(pd.Series(values), errors="coerce")
    t = raw.to_numpy(dtype=float, na_value=np.nan)
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(t) & (t >= 1) & (np.floor(t) == t)
    return np.where(valid, t, DEFAULT_WEEKLY_TARGET).astype(np.int64)


__all__ = ["DEFAULT_WEEKLY_TARGET", "weekly_targets"]
