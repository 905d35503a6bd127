"""Nightly partitions: UTC days.  Key D snapshots at D+1 00:00 UTC (design §2)."""

import dagster as dg

PARTITIONS_START = "2025-01-01"

daily_partitions = dg.DailyPartitionsDefinition(start_date=PARTITIONS_START, timezone="UTC")
