"""Exception types shared by every layer.

The command line maps them to exit codes by type (never by matching message text):
a :class:`ConfigurationError` anywhere in a run is exit code 2.
"""

from __future__ import annotations


class ConfigurationError(ValueError):
    """Bad run configuration or an unusable app database (exit code 2 on the command line).

    Not transient: retrying does not help, so runs fail at once without retries.
    """
