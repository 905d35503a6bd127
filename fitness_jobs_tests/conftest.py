"""Shared fixtures: an app database on SQLite and on a real PostgreSQL.

``db_engine`` is parametrised over both backends.  PostgreSQL comes from
``FITNESS_TEST_POSTGRES_URL`` (``.ci/run`` starts a throw-away cluster and sets it).
When the variable is missing the PostgreSQL cases are skipped on a developer's
machine, but when ``REQUIRE_POSTGRES=1`` or ``CI`` is set they *fail*: CI must never
pass without having run them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from fitness_jobs.db.engine import create_schema, make_engine
from fitness_jobs.db.schema import Base

POSTGRES_URL_ENV = "FITNESS_TEST_POSTGRES_URL"


def postgres_required() -> bool:
    return os.environ.get("REQUIRE_POSTGRES") == "1" or bool(os.environ.get("CI"))


def postgres_url() -> str | None:
    return os.environ.get(POSTGRES_URL_ENV) or None


@pytest.fixture(scope="session")
def _postgres_engine() -> Iterator[sa.Engine | None]:
    url = postgres_url()
    if url is None:
        yield None
        return
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("SELECT 1")
    Base.metadata.drop_all(engine)
    create_schema(engine)
    yield engine
    engine.dispose()


def _truncate_all(engine: sa.Engine) -> None:
    names = ", ".join(f'"{t.name}"' for t in reversed(Base.metadata.sorted_tables))
    with engine.begin() as conn:
        conn.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")


def _postgres_or_fail(pg: sa.Engine | None) -> sa.Engine:
    if pg is None:
        message = f"PostgreSQL not available: set {POSTGRES_URL_ENV}"
        if postgres_required():
            pytest.fail(message + " (required in CI: REQUIRE_POSTGRES/CI is set)")
        pytest.skip(message)
    _truncate_all(pg)
    return pg


@pytest.fixture(params=["sqlite", "postgres"])
def db_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    """An empty app database with the schema created, on each backend."""
    if request.param == "postgres":
        yield _postgres_or_fail(request.getfixturevalue("_postgres_engine"))
        return
    engine = make_engine(f"sqlite:///{tmp_path / 'app.sqlite'}")
    create_schema(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[sa.Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'app.sqlite'}")
    create_schema(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def postgres_engine(_postgres_engine: sa.Engine | None) -> sa.Engine:
    return _postgres_or_fail(_postgres_engine)
