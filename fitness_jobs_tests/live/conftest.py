"""Fixtures of the live tests: a seeded app database, a fresh Dagster storage database and a
running ``dagster-webserver`` + ``dagster-daemon`` pair on the production instance config.

PostgreSQL is required: without ``FITNESS_TEST_POSTGRES_URL`` the tests skip on a
developer's machine and fail when ``REQUIRE_POSTGRES=1`` or ``CI`` is set (like every
PostgreSQL test).  The services are module-scoped: started once, stopped (by process
group, SIGTERM then SIGKILL) at the end of the module even when a test failed.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
import uuid
from collections.abc import Generator, Iterator
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from fitness_jobs.db.engine import create_schema
from fitness_jobs.db.schema import Base
from fitness_jobs.defs.weekly.sensors import SENSOR_INTERVAL_ENV
from fitness_jobs.demo.generator import DemoConfig, generate_demo, write_demo
from fitness_jobs.settings import DATABASE_URL_ENV, PROJECT_ROOT
from fitness_jobs_tests.conftest import POSTGRES_URL_ENV, postgres_required
from fitness_jobs_tests.live.dagster_api import LiveDagster
from fitness_jobs_tests.live.scenario import (
    DEMO_SEED,
    DEMO_TODAY,
    DEMO_USERS,
    EXECUTOR,
    EXECUTOR_ENV,
    SENSOR_INTERVAL_S,
    STARTUP_TIMEOUT_S,
)
from fitness_jobs_tests.live.services import (
    LOG_MARKER,
    GraphQL,
    Service,
    free_port,
    http_ok,
    start_service,
    stop_all,
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "live: starts dagster-webserver and dagster-daemon as subprocesses"
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """On a failed live test, append the services' log tails (unless already in the message)."""
    report = yield
    live = getattr(item, "funcargs", {}).get("live")
    if report.failed and isinstance(live, LiveDagster) and LOG_MARKER not in str(report.longrepr):
        report.sections.append(("dagster-webserver / dagster-daemon log tails", live.logs()))
    return report


def _project_leftovers() -> set[Path]:
    return set(PROJECT_ROOT.glob(".tmp_dagster_home_*"))


@pytest.fixture(scope="module")
def live_app_db(_postgres_engine: sa.Engine | None) -> sa.Engine:
    """The test PostgreSQL app database, emptied and seeded with the demo's 200 users."""
    if _postgres_engine is None:
        message = f"PostgreSQL not available: set {POSTGRES_URL_ENV}"
        if postgres_required():
            pytest.fail(message + " (required in CI: REQUIRE_POSTGRES/CI is set)")
        pytest.skip(message)
    engine = _postgres_engine
    names = ", ".join(f'"{t.name}"' for t in reversed(Base.metadata.sorted_tables))
    with engine.begin() as conn:
        conn.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    create_schema(engine)
    frames = generate_demo(DemoConfig(users=DEMO_USERS, seed=DEMO_SEED, today=DEMO_TODAY))
    write_demo(engine, frames)
    return engine


@pytest.fixture(scope="module")
def dagster_storage_env(live_app_db: sa.Engine) -> Iterator[dict[str, str]]:
    """``DAGSTER_PG_*`` for a fresh database, dropped afterwards.

    The server is ``DAGSTER_TEST_PG_HOST``/``PORT`` when set (``./dev test``), else the app
    database's.  A database of its own (named after ``DAGSTER_TEST_PG_DB``) keeps the shared
    empty one empty for the other tests and makes re-runs start from nothing.
    """
    url = live_app_db.url
    host = os.environ.get("DAGSTER_TEST_PG_HOST") or url.host or "127.0.0.1"
    port = os.environ.get("DAGSTER_TEST_PG_PORT") or str(url.port or 5432)
    base = os.environ.get("DAGSTER_TEST_PG_DB") or f"{url.database}_dagster"
    user = url.username or "postgres"
    password = url.password or ""
    name = f"{base}_live_{uuid.uuid4().hex[:8]}"
    admin = psycopg.conninfo.make_conninfo(
        host=host, port=port, user=user, password=password or None, dbname="postgres"
    )
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield {
            "DAGSTER_PG_HOST": host,
            "DAGSTER_PG_PORT": port,
            "DAGSTER_PG_USER": user,
            "DAGSTER_PG_PASSWORD": password,
            "DAGSTER_PG_DB": name,
        }
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _executable(name: str) -> str:
    candidate = Path(sys.executable).parent / name
    found = str(candidate) if candidate.exists() else shutil.which(name)
    if found is None:
        pytest.fail(f"{name} not found beside {sys.executable} nor on PATH")
    return found


def _start_webserver(env: dict[str, str], tmp: Path) -> tuple[Service, int]:
    """dagster-webserver on a free loopback port (a new port if another process took it)."""
    for _attempt in range(3):
        port = free_port()
        argv = [_executable("dagster-webserver"), "-h", "127.0.0.1", "-p", str(port)]
        argv += ["-w", str(PROJECT_ROOT / "workspace.yaml")]
        web = start_service("webserver", argv, env=env, cwd=tmp, log_dir=tmp)
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while web.exited() is None and time.monotonic() < deadline:
            if http_ok(f"http://127.0.0.1:{port}/server_info"):
                return web, port
            time.sleep(0.5)
        if web.exited() is None or "address already in use" not in web.logs().lower():
            stop_all([web])
            raise AssertionError(f"dagster-webserver did not start\n{web.logs()}")
    raise AssertionError("dagster-webserver: no free port after 3 attempts")


@pytest.fixture(scope="module")
def live(
    live_app_db: sa.Engine,
    dagster_storage_env: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[LiveDagster]:
    """dagster-webserver and dagster-daemon on a copy of ``deploy/dagster.yaml``."""
    leftovers_before = _project_leftovers()
    tmp = tmp_path_factory.mktemp("live_dagster")
    home = tmp / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "deploy" / "dagster.yaml", home / "dagster.yaml")
    env = {
        **os.environ,
        **dagster_storage_env,
        "DAGSTER_HOME": str(home),
        DATABASE_URL_ENV: live_app_db.url.render_as_string(hide_password=False),
        SENSOR_INTERVAL_ENV: str(SENSOR_INTERVAL_S),
        EXECUTOR_ENV: EXECUTOR,
        "PYTHONUNBUFFERED": "1",
    }
    started: list[Service] = []
    try:
        daemon_argv = [
            _executable("dagster-daemon"),
            "run",
            "-w",
            str(PROJECT_ROOT / "workspace.yaml"),
        ]
        daemon = start_service("daemon", daemon_argv, env=env, cwd=tmp, log_dir=tmp)
        started.append(daemon)
        web, port = _start_webserver(env, tmp)
        started.append(web)
        gql = GraphQL(f"http://127.0.0.1:{port}/graphql")
        live = LiveDagster(web=web, daemon=daemon, port=port, home=home, gql=gql)
        gql.describe = live.logs
        live.wait_ready(STARTUP_TIMEOUT_S)
        yield live
    finally:
        stop_all(started)
        new = _project_leftovers() - leftovers_before
        for path in new:
            shutil.rmtree(path, ignore_errors=True)
        assert not new, f"temporary Dagster homes left in the project root: {sorted(new)}"
