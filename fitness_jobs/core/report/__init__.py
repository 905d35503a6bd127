"""Weekly training report (design §6, ``report_version`` 2), vectorised over users.

``build_weekly_reports`` turns one week's worth of workouts, sets, nightly metrics and
transformation predictions into one row per user: the queryable columns of
``weekly_reports``, the whole report as a JSON-ready dict and a short human summary.

Modules: ``build`` (inputs → rows), ``training`` (volume, hard sets, top lifts and
records), ``adherence`` (streak and lapse band as of the end of the week), ``text``
(``summary_text``), ``markdown`` (``report_markdown``), ``common`` (constants, helpers).
The weekly target ``T`` is :func:`fitness_jobs.core.targets.weekly_targets`, the rule the
nightly metrics use too.

Semantics (where docs/design.md §6 leaves room):

* A workout's day is the local date of ``finalized_at`` in the user's zone.  Sessions are
  ``completed`` + ``partial``; the completion rate is completed / (completed + partial +
  abandoned) over the week, ``None`` when 0.  Only sessions' sets count (volume, hard sets,
  lifts, records).
* ``session_target`` = ``T``: ``weekly_session_target`` when a whole number ≥ 1, else 3.
* Volume load = Σ reps × weight_kg over working (non-warm-up) sets.  Changes are
  ``100·(this − base)/base`` against the previous week and against the mean of the 4 weeks
  before ``W`` (weeks without sessions count as 0); ``None`` when the base is 0.
* Hard sets: working sets, 1 for the primary muscle group and 0.5 for the secondary one.
  Bands: ``low`` < 5 ≤ ``moderate`` < 10 ≤ ``recommended`` ≤ 20 < ``high``.
* e1RM (Epley): ``w`` at 1 rep, ``w·(1 + r/30)`` for 2–10 reps; warm-ups, sets over 10 reps
  and sets without a positive weight (0 kg) are ignored: no e1RM, not a lift, not history.
  Top lifts: best set per exercise in the week, the 5 best.  A personal record is a week
  best strictly above (by more than 1e-9 kg) every earlier best: ``prior_best_e1rm``
  (before the workouts frame) and the frame's own earlier days (local day < W).  No
  earlier e1RM → ``first_time``, never a record.
* Monotony = mean / population SD of the 7 daily sRPE loads, only with ≥ 4 sessions;
  ``None`` when the SD is 0.
* CTL, TSB and ACWR come from ``metrics`` (§5 at W + 6).  ``streak_weeks`` counts the weeks
  with sessions ≥ T ending with ``W`` (0 when ``W`` missed T); ``lapse_risk`` is §5's band
  at W + 6, ``None`` for a user with no session ever (see ``adherence``).
* Trend weight and weekly change come from the prediction; ``None`` unless its status is
  ``ok``.

Rounding: the numeric columns are stored unrounded (float64).  Their copies in the JSON
``report`` are Python's ``round(value, d)`` (``None`` for NaN) with ``d`` =
4 for ``completion_rate``, ``acwr`` and ``monotony``;
3 for ``ctl``, ``tsb``, ``trend_weight_kg`` and ``weight_change_kg_per_week``;
2 for ``volume_load_kg``, ``volume_change_pct_prev_week``, ``volume_change_pct_4w_avg``
and ``srpe_load`` (:data:`JSON_DIGITS`), so a column and its JSON value differ by at most
``0.5·10^−d`` (plus float64 representation error).  Integer columns (``sessions``,
``session_target``, ``streak_weeks``, ``report_version``) are equal.  Inside the JSON,
weekly/daily volumes and loads have 2 decimals; e1RMs, weights and prediction numbers 3.

Nothing here imports dagster or touches a database.
"""

from fitness_jobs.core.columns import SESSION_STATUSES
from fitness_jobs.core.report.adherence import (
    has_logged_session,
    report_lapse_risk,
    streaks_ending_with_week,
    weekly_session_counts,
)
from fitness_jobs.core.report.build import build_weekly_reports
from fitness_jobs.core.report.common import (
    ACWR_SPIKE,
    HIGH_MONOTONY,
    HISTORY_WEEKS,
    JSON_DIGITS,
    MAX_E1RM_REPS,
    MONOTONY_MIN_SESSIONS,
    PR_EPSILON_KG,
    REPORT_COLUMNS,
    REPORT_VERSION,
    SECONDARY_WEIGHT,
    TOP_LIFTS,
)
from fitness_jobs.core.report.markdown import report_markdown
from fitness_jobs.core.report.text import summary_text
from fitness_jobs.core.report.training import epley_e1rm, hard_set_band
from fitness_jobs.core.targets import DEFAULT_WEEKLY_TARGET

DEFAULT_SESSION_TARGET = DEFAULT_WEEKLY_TARGET  # the name report.py used before the split

__all__ = [
    "ACWR_SPIKE",
    "DEFAULT_SESSION_TARGET",
    "HIGH_MONOTONY",
    "HISTORY_WEEKS",
    "JSON_DIGITS",
    "MAX_E1RM_REPS",
    "MONOTONY_MIN_SESSIONS",
    "PR_EPSILON_KG",
    "REPORT_COLUMNS",
    "REPORT_VERSION",
    "SECONDARY_WEIGHT",
    "SESSION_STATUSES",
    "TOP_LIFTS",
    "build_weekly_reports",
    "epley_e1rm",
    "hard_set_band",
    "has_logged_session",
    "report_lapse_risk",
    "report_markdown",
    "streaks_ending_with_week",
    "summary_text",
    "weekly_session_counts",
]
