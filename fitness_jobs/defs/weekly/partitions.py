"""Weekly partitions: key W is the Monday that starts the reported week (design §2).

``end_offset=1`` makes the week in progress a partition already, so that on Sunday
13:00 UTC (Monday 03:00 at UTC+14) its reports can be generated.
"""

import dagster as dg

weekly_partitions = dg.WeeklyPartitionsDefinition(
    start_date="2025-01-06", day_offset=1, timezone="UTC", end_offset=1
)
