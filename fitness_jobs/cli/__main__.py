"""``python -m fitness_jobs.cli``: the same as the ``fitness-jobs`` console script."""

import sys

from fitness_jobs.cli import main

sys.exit(main())
