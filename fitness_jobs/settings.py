"""Where things live on disk, and the app database URL.

The embedded default keeps everything in the project's git-ignored ``.data/`` folder:
the app database (``.data/fitness.sqlite``) and Dagster's instance storage
(``.dagster_home/``).  ``FITNESS_DATA_DIR`` moves the data folder.
"""

from __future__ import annotations

import os
from pathlib import Path

DATABASE_URL_ENV = "FITNESS_DATABASE_URL"
DATA_DIR_ENV = "FITNESS_DATA_DIR"
LOCK_TIMEOUT_ENV = "FITNESS_LOCK_TIMEOUT_SECONDS"
DEFAULT_LOCK_TIMEOUT_S = 300.0

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def data_dir() -> Path:
    """The local data folder (created on demand)."""
    path = Path(os.environ.get(DATA_DIR_ENV) or PROJECT_ROOT / ".data")
    path.mkdir(parents=True, exist_ok=True)
    return path


def default_database_url() -> str:
    """The embedded SQLite app database in the local data folder."""
    return f"sqlite:///{data_dir() / 'fitness.sqlite'}"


def database_url() -> str:
    """``FITNESS_DATABASE_URL`` if set, else the embedded SQLite file."""
    return os.environ.get(DATABASE_URL_ENV) or default_database_url()


def dagster_home() -> Path:
    """``DAGSTER_HOME`` if set, else ``.dagster_home`` beside the project."""
    path = Path(os.environ.get("DAGSTER_HOME") or PROJECT_ROOT / ".dagster_home")
    path.mkdir(parents=True, exist_ok=True)
    return path


def lock_timeout_seconds() -> float:
    """How long a run waits for another run of the same partition (default 5 minutes)."""
    raw = os.environ.get(LOCK_TIMEOUT_ENV)
    try:
        return max(0.0, float(raw)) if raw else DEFAULT_LOCK_TIMEOUT_S
    except ValueError:
        return DEFAULT_LOCK_TIMEOUT_S
