"""Shared pieces of the fault-injection suite (PostgreSQL only).

- ``population``: a small, deterministic app population that is active on nightly
  partition ``D`` and eligible for the weekly report of week ``W`` (both in the past).
- ``app_role``: the least-privilege role of ``deploy/app_role.sql`` on the test database,
  applied through psycopg with the psql variables substituted.
- ``scratch_cluster``: a throw-away PostgreSQL cluster of this test's own (the shared
  server is never restarted), with a ``restart()`` (``pg_ctl restart -m fast``).
- ``run_child``: a Python subprocess of this package (``children.py``), for faults that
  need a fresh process (an import-time setting) or a process that dies.
"""

from __future__ import annotations

import datetime as dt
import glob
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from psycopg import sql

from fitness_jobs.db.engine import create_schema, make_engine
from fitness_jobs_tests.conftest import postgres_required
from fitness_jobs_tests.factories import (
    ts,
    usage,
    user,
    weigh_in,
    workout,
    workout_set,
    write,
)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
APP_ROLE_SQL = PROJECT_ROOT / "deploy" / "app_role.sql"

D = dt.date(2026, 11, 28)  # nightly partition: snapshot 2026-11-29 00:00 UTC
W = dt.date(2026, 11, 23)  # weekly partition: reports on Monday 2026-11-30
NOW = ts("2026-12-01 06:00")  # the runs' clock, after both

ZONES = (
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Asia/Tokyo",
    "Asia/Kathmandu",
    "Pacific/Pago_Pago",
    "Pacific/Kiritimati",
    None,
)
SESSION_DAYS = ("2026-11-09", "2026-11-16", "2026-11-19", "2026-11-23", "2026-11-25", "2026-11-27")


@dataclass(frozen=True)
class Population:
    users: list[dict[str, Any]]
    workouts: list[dict[str, Any]]
    sets: list[dict[str, Any]]
    weigh_ins: list[dict[str, Any]]
    usage_rows: list[dict[str, Any]]

    @property
    def user_ids(self) -> list[int]:
        return [u["id"] for u in self.users]

    def write(self, engine: sa.Engine) -> None:
        write(
            engine,
            users=self.users,
            workouts=self.workouts,
            sets=self.sets,
            weigh_ins=self.weigh_ins,
            usage_rows=self.usage_rows,
        )


def population(n: int, *, first_id: int = 1, zones: tuple[str | None, ...] = ZONES) -> Population:
    """``n`` Pro/trial users, each active on ``D`` (sessions up to 2026-11-27) and eligible
    for ``W``; every other user weighs in daily (so some predictions are ``ok``)."""
    users, workouts, sets, weigh_ins, usage_rows = [], [], [], [], []
    for uid in range(first_id, first_id + n):
        users.append(
            user(
                uid,
                timezone=zones[uid % len(zones)],
                plan="trial" if uid % 5 == 0 else "pro",
                weekly_session_target=2 + uid % 3,
                sex="male" if uid % 2 else "female",
                birth_date=dt.date(1980 + uid % 20, 1 + uid % 12, 1),
                height_cm=160.0 + uid % 30,
            )
        )
        for k, day in enumerate(SESSION_DAYS):
            wid = uid * 100 + k
            workouts.append(
                workout(
                    uid,
                    f"{day} {8 + uid % 10:02d}:30",
                    id=wid,
                    duration_seconds=2400 + 60 * k,
                    session_rpe=4 + (uid + k) % 5,
                )
            )
            sets.append(workout_set(wid, reps=5 + k % 3, weight_kg=60.0 + uid % 20 + k))
            sets.append(workout_set(wid, exercise="bench press", muscle_group="chest", reps=8))
        if uid % 2:
            for day in range(28):
                when = ts("2026-11-02 07:00") + dt.timedelta(days=day)
                weigh_ins.append(weigh_in(uid, when, 80.0 + uid % 7 - 0.05 * day))
        usage_rows.append(usage(uid, D.isoformat(), 1 + uid % 4))
    return Population(users, workouts, sets, weigh_ins, usage_rows)


def table_rows(
    engine: sa.Engine, table: str, *, without: tuple[str, ...] = (), order_by: str = "user_id"
) -> list[dict[str, Any]]:
    """Every row of ``table`` (ordered), as dicts without the ``without`` columns."""
    with engine.connect() as conn:
        result = conn.exec_driver_sql(f'SELECT * FROM "{table}" ORDER BY {order_by}')
        return [{k: v for k, v in row.items() if k not in without} for row in result.mappings()]


def url_of(engine: sa.Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def conninfo(engine: sa.Engine) -> str:
    url = engine.url
    return psycopg.conninfo.make_conninfo(
        host=url.host or "", port=url.port or 5432, user=url.username or "", dbname=url.database
    )


# --------------------------------------------------------------------------- the role


def app_role_script(role: str, password: str, conn: psycopg.Connection[Any]) -> str:
    """``deploy/app_role.sql`` as psql would send it: meta-commands (``\\set``, ``\\if``,
    ``\\getenv``, …) dropped, ``:'role'``, ``:"role"`` and ``:'password'`` substituted with
    properly quoted values."""
    values = {
        ":'role'": sql.Literal(role).as_string(conn),
        ':"role"': sql.Identifier(role).as_string(conn),
        ":'password'": sql.Literal(password).as_string(conn),
    }
    lines = [line for line in APP_ROLE_SQL.read_text().splitlines() if not line.startswith("\\")]
    text = "\n".join(lines)
    text = re.sub(r":'role'|:\"role\"|:'password'", lambda m: values[m.group(0)], text)
    leftover = re.search(r":['\"]?[A-Za-z_]+['\"]?", re.sub(r"::\w+|'[^']*'", "", text))
    assert leftover is None, f"unsubstituted psql variable in app_role.sql: {leftover.group(0)}"
    return text


def apply_app_role(engine: sa.Engine, role: str, password: str) -> None:
    """Run ``deploy/app_role.sql`` on ``engine``'s database as its (super)user."""
    with psycopg.connect(conninfo(engine), autocommit=True) as conn:
        conn.execute(app_role_script(role, password, conn).encode())


def drop_role(engine: sa.Engine, role: str) -> None:
    with psycopg.connect(conninfo(engine), autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone() is None:
            return
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE usename = %s AND pid <> pg_backend_pid()",
            (role,),
        )
        conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
        conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


@dataclass(frozen=True)
class AppRole:
    name: str
    password: str
    url: str  # postgresql+psycopg URL logging in as the role


def role_name_for(engine: sa.Engine) -> str:
    """Roles are cluster-wide: one name per test database, so that suites running on
    other databases of the same server never share (or drop) each other's role."""
    database = re.sub(r"[^a-z0-9_]", "_", (engine.url.database or "db").lower())
    return f"fj_app_{database}"[:63]


@pytest.fixture
def app_role(postgres_engine: sa.Engine) -> Iterator[AppRole]:
    role = role_name_for(postgres_engine)
    password = secrets.token_urlsafe(16) + "'\"$x"  # quoting is exercised too
    apply_app_role(postgres_engine, role, password)
    url = postgres_engine.url.set(username=role, password=password)
    yield AppRole(role, password, url.render_as_string(hide_password=False))
    drop_role(postgres_engine, role)


@pytest.fixture
def dagster_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A throw-away Dagster instance (``DAGSTER_HOME``) and data folder for CLI runs."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("FITNESS_DATA_DIR", str(tmp_path / "data"))
    return home


# --------------------------------------------------------------------------- subprocesses


@dataclass(frozen=True)
class ChildResult:
    returncode: int
    summary: dict[str, Any] | None
    stderr: str


def run_child(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> ChildResult:
    """``python -m fitness_jobs_tests.faults.children ARGS…``; its last stdout line is JSON."""
    completed = subprocess.run(
        [sys.executable, "-m", "fitness_jobs_tests.faults.children", *args],
        cwd=PROJECT_ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    lines = [line for line in completed.stdout.splitlines() if line.startswith("{")]
    summary = json.loads(lines[-1]) if lines else None
    return ChildResult(completed.returncode, summary, completed.stderr)


# --------------------------------------------------------------------------- own cluster


def _pg_bin() -> Path | None:
    """Where ``initdb`` and ``pg_ctl`` are: ``FITNESS_TEST_PG_BIN``, the PATH, or the
    Debian layout (as ``./dev`` finds them)."""
    candidates = [os.environ.get("FITNESS_TEST_PG_BIN")]
    found = shutil.which("pg_ctl")
    candidates.append(str(Path(found).resolve().parent) if found else None)
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for candidate in candidates:
        if (
            candidate
            and (Path(candidate) / "pg_ctl").exists()
            and (Path(candidate) / "initdb").exists()
        ):
            return Path(candidate)
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ScratchCluster:
    """A PostgreSQL cluster owned by one test: its own data dir, port and socket dir."""

    bin_dir: Path
    root: Path
    port: int
    as_postgres: list[str]

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def pg_ctl(self, *args: str) -> None:
        subprocess.run(
            [*self.as_postgres, str(self.bin_dir / "pg_ctl"), "-D", str(self.data), *args],
            check=True,
            capture_output=True,
            timeout=90,
        )

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=30"
        )
        self.pg_ctl("-l", str(self.root / "server.log"), "-w", "-t", "60", "-o", options, "start")

    def restart(self) -> None:
        """``pg_ctl restart -m fast``: every session is ended, the server comes back."""
        # -l again: without it the new server would log to (and hold open) our pipe.
        self.pg_ctl("-l", str(self.root / "server.log"), "-w", "-t", "60", "-m", "fast", "restart")

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self.pg_ctl("-m", "immediate", "stop")


@pytest.fixture
def scratch_cluster() -> Iterator[ScratchCluster]:
    """A throw-away cluster (initdb in a temporary folder, a free loopback port).  Fails
    instead of skipping when PostgreSQL is required and its server binaries are missing."""
    bin_dir = _pg_bin()
    if bin_dir is None:
        message = "PostgreSQL server binaries (initdb, pg_ctl) not found: set FITNESS_TEST_PG_BIN"
        if postgres_required():
            pytest.fail(message + " (required: REQUIRE_POSTGRES/CI is set)")
        pytest.skip(message)
    as_postgres: list[str] = []
    root = Path(tempfile.mkdtemp(prefix="fitness-faults-pg-"))
    root.chmod(0o755)
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        import pwd

        try:
            entry = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(root)
            pytest.fail("running as root without a `postgres` system user to run the server")
        os.chown(root, entry.pw_uid, entry.pw_gid)
        as_postgres = ["runuser", "-u", "postgres", "--"]
    cluster = ScratchCluster(bin_dir, root, _free_port(), as_postgres)
    try:
        subprocess.run(
            [
                *as_postgres,
                str(bin_dir / "initdb"),
                "-D",
                str(cluster.data),
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-locale",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        cluster.start()
        engine = make_engine(cluster.url)
        create_schema(engine)
        engine.dispose()
        yield cluster
    finally:
        try:
            cluster.stop()
        finally:
            shutil.rmtree(root, ignore_errors=True)
