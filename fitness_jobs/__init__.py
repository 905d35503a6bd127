"""fitness-jobs: nightly behaviour metrics and weekly reports as a Dagster code location."""

__version__ = "0.1.0"
