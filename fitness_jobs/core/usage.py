"""Daily coach (LLM) usage summary: the ``coach_usage_daily`` row of one UTC day."""

from __future__ import annotations

import numpy as np
import pandas as pd


def summarize_coach_usage(usage: pd.DataFrame) -> dict[str, int | float | None]:
    """Users with non-zero usage, totals, and the p95 and max requests per user.

    ``usage`` has one row per user of the day (``request_count``, ``input_tokens``,
    ``output_tokens``).  Percentiles are numpy's default (linear) over the users with
    non-zero usage; None when nobody used the coach.
    """
    active = usage[usage["request_count"] > 0]
    requests = active["request_count"].to_numpy(dtype=float)
    return {
        "users_with_usage": len(active),
        "total_requests": int(active["request_count"].sum()),
        "total_input_tokens": int(active["input_tokens"].sum()),
        "total_output_tokens": int(active["output_tokens"].sum()),
        "p95_requests_per_user": float(np.percentile(requests, 95)) if len(requests) else None,
        "max_requests_per_user": int(requests.max()) if len(requests) else None,
    }
