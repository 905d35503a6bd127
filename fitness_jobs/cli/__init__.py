"""``fitness-jobs``: the cron-compatible command line (DESIGN §9).

Every job runs through Dagster (``execute_in_process`` on the project's instance, see
:mod:`fitness_jobs.cli.instance`), so cron runs appear in the UI's run history next to
scheduled ones.

Exit codes: 0 every user succeeded; 1 any user failed (or the run failed); 2 usage or
configuration error (one line on stderr, no traceback).

Modules: ``parser`` (flags), ``commands`` (nightly, weekly), ``demo`` (db init, demo
seed/run), ``database`` (preflight, sample report), ``run`` (executing a job, exit code),
``instance`` (the Dagster instance), ``reaper`` (runs of dead CLI processes), ``output``
(what is printed), ``errors`` (exit codes, CliUsageError).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from fitness_jobs.cli.errors import EXIT_OK, EXIT_USAGE, CliUsageError, one_line
from fitness_jobs.errors import ConfigurationError

__all__ = ["EXIT_OK", "EXIT_USAGE", "CliUsageError", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    from fitness_jobs.cli.parser import build_parser

    try:
        args = build_parser().parse_args(argv)
        return int(args.func(args))
    except SystemExit as exc:  # --help and --version print and exit 0
        return exc.code if isinstance(exc.code, int) else EXIT_OK
    except CliUsageError as exc:
        print(f"fitness-jobs: error: {one_line(exc)}", file=sys.stderr, flush=True)
        return EXIT_USAGE
    except ConfigurationError as exc:
        print(f"fitness-jobs: configuration error: {one_line(exc)}", file=sys.stderr, flush=True)
        return EXIT_USAGE
