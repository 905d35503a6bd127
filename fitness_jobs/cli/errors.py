"""Exit codes and the command line's own error type."""

from __future__ import annotations

from fitness_jobs.errors import ConfigurationError

EXIT_OK = 0  # every user succeeded
EXIT_USER_FAILED = 1  # any user failed, or the run failed
EXIT_USAGE = 2  # usage or configuration error


class CliUsageError(ConfigurationError):
    """Bad flags or an unusable environment, found before any run starts: exit code 2.

    A :class:`~fitness_jobs.errors.ConfigurationError`, so every configuration problem,
    wherever it is raised, reaches the same one-line report and exit code.
    """


def one_line(text: object) -> str:
    """``text`` on a single line (error messages go to cron mail and log lines)."""
    return " ".join(str(text).split())
