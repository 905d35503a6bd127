"""``python -m fitness_jobs.jobs.nightly_job [--limit N]``: the old nightly cron job.

Processes what the 02:00 UTC schedule would run now (yesterday's UTC partition).
Exit code 0 if every user succeeded, 1 if any failed, 2 on a usage error.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from fitness_jobs.cli import main as cli_main


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    return cli_main(["nightly", *args])


if __name__ == "__main__":
    sys.exit(main())
