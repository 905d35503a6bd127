"""``python -m fitness_jobs.jobs.weekly_job``: the old hourly weekly-report cron job.

Window mode at the current instant: every Pro/trial user whose local time is Monday
03:00–05:59 and who has no report for the week just ended gets one.  Exit code 0 if
every user in the window succeeded, 1 if any failed, 2 on a usage error.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from fitness_jobs.cli import main as cli_main


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    return cli_main(["weekly", *args])


if __name__ == "__main__":
    sys.exit(main())
