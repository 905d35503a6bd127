"""Partitions: UTC days for the nightly metrics, Monday weeks for the weekly reports."""

from __future__ import annotations

import dagster as dg

PARTITIONS_START = "2025-01-01"

# Key D = a UTC calendar day; its snapshot instant is D+1 00:00 UTC.
daily_partitions = dg.DailyPartitionsDefinition(start_date=PARTITIONS_START, timezone="UTC")

# Key W = the Monday that starts the reported week.  end_offset=1 makes the week in
# progress a partition already, so that on Sunday 13:00 UTC (Monday 03:00 in
# UTC+14) its reports can be generated.
weekly_partitions = dg.WeeklyPartitionsDefinition(
    start_date="2025-01-06", day_offset=1, timezone="UTC", end_offset=1
)
