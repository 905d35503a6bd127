"""What a nightly run did: each partition day's counts and the run's totals (becomes
Dagster metadata and the command line's summary)."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field

from fitness_jobs.pipelines.runner import RunReport


@dataclass
class NightlyDay:
    """What a run did for one partition day (a range run has one per day)."""

    partition: dt.date
    as_of: dt.datetime
    active_users: int = 0
    written: int = 0  # rows of this snapshot in the database after the run
    changed: int = 0  # of those, rows this run inserted or altered
    failed: int = 0  # active users of the day who failed
    # Rows not written because a later day of the range has the same (user, local date):
    # a zone whose UTC offset moves back across midnight (Azores), as a later run would.
    superseded: int = 0
    coach_users_with_usage: int = 0
    lapse_risk: dict[str, int] = field(default_factory=dict)
    metrics_dates: dict[str, int] = field(default_factory=dict)
    missing_user_ids: list[int] = field(default_factory=list)
    range_violations: dict[str, int] = field(default_factory=dict)


@dataclass
class NightlyReport(RunReport):
    """What one nightly run did (one day or a range); becomes Dagster metadata and the CLI
    summary.  ``partition`` is the first day, ``last_partition`` the last (the same for a
    single day); counts are summed over the days (user-days), ``days`` has each day's."""

    partition: dt.date = dt.date.min
    last_partition: dt.date = dt.date.min
    as_of: dt.datetime = dt.datetime.min
    limit: int | None = None
    days: list[NightlyDay] = field(default_factory=list)

    @property
    def is_range(self) -> bool:
        return len(self.days) > 1

    @property
    def active_users(self) -> int:
        return sum(d.active_users for d in self.days)

    @property
    def written(self) -> int:
        """Rows of the run's snapshots in the database (new, changed or equal)."""
        return sum(d.written for d in self.days)

    @property
    def coach_users_with_usage(self) -> int:
        return sum(d.coach_users_with_usage for d in self.days)

    @property
    def missing_user_ids(self) -> list[int]:
        return sorted({uid for d in self.days for uid in d.missing_user_ids})

    @property
    def range_violations(self) -> dict[str, int]:
        total: Counter[str] = Counter()
        for d in self.days:
            total.update(d.range_violations)
        return dict(total)

    @property
    def lapse_risk(self) -> dict[str, int]:
        return dict(self.distributions.get("lapse_risk", {}))

    @property
    def metrics_dates(self) -> dict[str, int]:
        return dict(self.distributions.get("metrics_date", {}))

    def day(self, partition: dt.date) -> NightlyDay:
        return next(d for d in self.days if d.partition == partition)


def fill_days(report: NightlyReport) -> None:
    """Each day's written, superseded and changed rows and its distributions, from the
    merged chunk tallies (keyed by the day's ISO date)."""
    dist = report.distributions
    for day in report.days:
        key = day.partition.isoformat()
        day.written = dist.get("written", Counter())[key]
        day.superseded = dist.get("superseded", Counter())[key]
        day.changed = dist.get("changed", Counter())[key]
        for name in ("lapse_risk", "metrics_date"):
            values = {
                combined.split("|", 1)[1]: n
                for combined, n in dist.get(f"day|{name}", Counter()).items()
                if combined.startswith(key + "|")
            }
            if name == "lapse_risk":
                day.lapse_risk = values
            else:
                day.metrics_dates = values
