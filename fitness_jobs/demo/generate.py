"""Realistic synthetic app data as pandas frames, one block of users at a time.

``iter_blocks(config, cal)`` yields the data block by block (``BLOCK_USERS`` ordinary
users each, then the bad-row users if asked for); ``generate_demo(config, now)``
concatenates them into one frame per app table plus ``personas`` and ``bad_rows``.
Writing is elsewhere: ``seed.seed_demo`` streams the blocks into a database,
``write.write_demo`` writes frames.

What is in the data
-------------------
* **Users** over ~35 IANA zones, including the awkward ones (Asia/Kathmandu +05:45,
  Pacific/Chatham +12:45/+13:45, America/St_Johns −03:30 with DST, Pacific/Kiritimati +14,
  Pacific/Pago_Pago −11, Australia/Lord_Howe with a 30-minute DST shift) and DST zones;
  ~2 % NULL zones (= UTC) and ~0.5 % non-canonical case variants (``europe/berlin``).
  Plans free/trial/pro (expired, running and NULL trials), optional weekly targets,
  profiles with some NULLs, ~1 % deleted (half after their last activity, half *before*
  activity that continues afterwards).
* **Personas** (never stored in the app tables; returned in the extra ``personas`` frame):
  ``consistent`` (trains ~T times a week on preferred weekdays at a preferred local hour),
  ``lapsing`` (trained, last session 2–5 weeks ago), ``new`` (joined in the last 3 weeks),
  ``returning`` (a gap of 4+ weeks, resumed in the last 2 weeks), ``churned`` (nothing in
  the last 45+ days: no workouts, weigh-ins or coach usage).
* **Workouts** at the preferred *local* hour converted to UTC per zone (DST-correct);
  statuses completed/partial/abandoned and ``in_progress`` (only workouts running at
  ``now``; ``finalized_at`` and ``duration_seconds`` NULL).  Nothing starts or finishes
  after ``now`` unless it is a deliberate bad row.
* **Sets** 10–25 per completed workout (fewer for partial/abandoned/in-progress) in
  push/pull/legs templates, warm-up sets, weights from a per-user strength level with slow
  progression (Epley-consistent for the reps).
* **Weigh-ins** for ~60 % of users (near-daily, a few a week, or too few) with a losing,
  gaining or stable trend plus N(0, 0.4 kg) noise.
* **Coach usage** (``llm_usage_daily``) on UTC dates, negative-binomial request counts,
  tokens proportional to requests.

Extra frames (ignored by ``write_demo``)
----------------------------------------
``personas``: ``user_id, persona, timezone`` (the canonical zone the history was generated
in, also for NULL, case-variant and invalid stored zones), ``preferred_hour_local``,
``preferred_weekdays`` ("0,2,4", Monday = 0), ``sessions_per_week``, ``activity_end`` and
``resumed_on`` (local dates), ``weigh_in_frequency``, ``weight_trend``,
``weight_slope_kg_per_week`` (the true slope), ``coach_user``, ``deleted``
(``before_activity``/``after_activity``/None).  ``bad_rows``: see ``bad_rows``.

Determinism: the frames depend only on the config and ``now`` (``now`` defaults to the end
of ``config.today`` when ``today`` is given, else to the wall clock); see ``config``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pandas as pd

from fitness_jobs.demo.bad_rows import bad_rows_block, empty_bad_rows
from fitness_jobs.demo.config import Calendar, DemoConfig, block_seed, make_calendar
from fitness_jobs.demo.frames import Ids, block_frames


def iter_blocks(config: DemoConfig, cal: Calendar) -> Iterator[dict[str, pd.DataFrame]]:
    """The data block by block, ids continuing from block to block.

    Ordinary blocks have the app frames and ``personas``; the bad-row block, last, also
    has ``bad_rows``.  ``users == 0`` without bad rows yields one empty block.
    """
    ids = Ids(config.first_user_id, 1, 1, 1)
    for index in range(max(config.blocks, 0 if config.with_bad_rows else 1)):
        frames = block_frames(block_seed(config.seed, index), config.block_size(index), cal, ids)
        ids = ids.after(frames)
        yield frames
    if config.with_bad_rows:
        frames, bad_rows = bad_rows_block(config, cal, ids)
        frames["bad_rows"] = bad_rows
        yield frames


def generate_demo(config: DemoConfig, now: dt.datetime | None = None) -> dict[str, pd.DataFrame]:
    """Synthetic app data: one frame per app table plus ``personas`` and ``bad_rows``.

    Columns of the app frames are the schema's; ids start at ``config.first_user_id`` for
    users and at 1 for workouts, sets and weigh-ins.  Timestamps are tz-aware UTC
    (``finalized_at``/``deleted_at``/``trial_ends_at`` NaT for NULL), dates are
    ``datetime.date`` objects, nullable integers are pandas ``Int64``.  Memory grows with
    ``config.users``: to fill a database use ``seed_demo``, which streams.
    """
    cal = make_calendar(config, now)
    blocks = list(iter_blocks(config, cal))
    names = [name for name in blocks[0] if name != "bad_rows"]
    if len(blocks) == 1:
        frames = blocks[0]
    else:
        frames = {name: pd.concat([b[name] for b in blocks], ignore_index=True) for name in names}
    frames["bad_rows"] = blocks[-1].get("bad_rows", empty_bad_rows())
    return frames
