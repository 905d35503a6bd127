"""The app database as a Dagster resource."""

from __future__ import annotations

import os

import dagster as dg
import sqlalchemy as sa
from pydantic import PrivateAttr

from fitness_jobs.db.engine import make_engine
from fitness_jobs.settings import DATABASE_URL_ENV, default_database_url


class AppDatabase(dg.ConfigurableResource):
    """The fitness app's database: PostgreSQL in production, embedded SQLite by default.

    The URL is a secret: it comes from ``FITNESS_DATABASE_URL`` through ``dg.EnvVar``
    (never from run config).  Unset, it is the SQLite file in the local data folder.
    """

    url: str

    _engine: sa.Engine | None = PrivateAttr(default=None)

    def engine(self) -> sa.Engine:
        if self._engine is None:
            self._engine = make_engine(self.url)
        return self._engine

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._engine is not None:
            self._engine.dispose()


def app_database_from_env() -> AppDatabase:
    """``AppDatabase`` reading ``FITNESS_DATABASE_URL`` via ``dg.EnvVar``, or the embedded default."""
    if os.environ.get(DATABASE_URL_ENV):
        return AppDatabase(url=dg.EnvVar(DATABASE_URL_ENV))
    return AppDatabase(url=default_database_url())


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(resources={"app_db": app_database_from_env()})
