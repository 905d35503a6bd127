"""The chunk runner's order of work: on PostgreSQL the next chunk is read while this one
is computed and written; on SQLite one chunk after another.  A read's error surfaces at
its chunk's turn, after the chunks before it committed."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from fitness_jobs.db.engine import is_postgres
from fitness_jobs.pipelines.runner import (
    READ_AHEAD,
    ChunkReport,
    Frames,
    Validated,
    read_chunk,
    run_chunk,
    run_chunks,
)


class ReadFailed(RuntimeError):
    pass


class Recorder:
    """Shared by the chunks of one run: what happened, in order."""

    def __init__(self) -> None:
        self.events: list[tuple[str, int]] = []
        self.read_started: dict[int, threading.Event] = {}
        self.computed: dict[int, threading.Event] = {}
        self.lock = threading.Lock()

    def note(self, what: str, chunk: int) -> None:
        with self.lock:
            self.events.append((what, chunk))


class EchoWork:
    """A chunk whose 'metric' is the user id doubled; it writes nothing to the database.
    Chunk ``index``'s write waits (briefly) for chunk ``index + 1``'s read to start."""

    def __init__(
        self, index: int, recorder: Recorder, fail_read: bool = False, wait: float = 5.0
    ) -> None:
        self.index = index
        self.wait = wait
        self.recorder = recorder
        self.fail_read = fail_read
        recorder.read_started.setdefault(index, threading.Event())
        recorder.read_started.setdefault(index + 1, threading.Event())

    def read(self, conn: sa.Connection, user_ids: Sequence[int]) -> Frames:
        self.recorder.read_started[self.index].set()
        self.recorder.note("read", self.index)
        conn.exec_driver_sql("SELECT 1")
        if self.fail_read:
            raise ReadFailed(f"chunk {self.index}")
        return {"users": pd.DataFrame({"user_id": list(user_ids)})}

    def validate(self, raw: Frames) -> Validated:
        return Validated(frames=raw)

    def compute(self, frames: Frames) -> pd.DataFrame:
        users = frames["users"]
        return users.assign(doubled=users["user_id"] * 2)

    def records(self, outputs: Sequence[pd.DataFrame]) -> dict[int, Any]:
        return {
            int(u): int(d) for out in outputs for u, d in zip(out.user_id, out.doubled, strict=True)
        }

    def write(self, conn: sa.Connection, rows: Sequence[Any]) -> list[int]:
        next_read = self.recorder.read_started[self.index + 1]
        overlapped = next_read.wait(timeout=self.wait)
        self.recorder.note("write-overlapped" if overlapped else "write", self.index)
        return [row // 2 for row in rows]

    def tally(self, outputs: Sequence[Any], committed: Sequence[int], report: ChunkReport) -> None:
        report.count("doubled", [2 * u for u in committed])


CHUNKS = [[1, 2, 3], [4, 5], [6]]


def _works(
    engine: sa.Engine, recorder: Recorder, fail_read_of: int | None = None, overlap: bool = True
) -> list[tuple[EchoWork, list[int]]]:
    # On SQLite the next read runs on this thread, after the write: no use waiting for
    # it; nor after the last chunk, which has no next one.
    wait = 5.0 if is_postgres(engine) and overlap else 0.0
    return [
        (EchoWork(i, recorder, i == fail_read_of, wait if i < len(CHUNKS) - 1 else 0.0), ids)
        for i, ids in enumerate(CHUNKS)
    ]


def test_reports_come_in_chunk_order_and_equal_one_chunk_at_a_time(db_engine: sa.Engine) -> None:
    together = list(run_chunks(db_engine, _works(db_engine, Recorder(), overlap=False)))
    alone = [
        run_chunk(db_engine, work, ids)
        for work, ids in _works(db_engine, Recorder(), overlap=False)
    ]
    assert [r.committed for r in together] == CHUNKS
    assert [r.committed for r in together] == [r.committed for r in alone]
    assert [r.changed for r in together] == [r.changed for r in alone]
    assert [r.distributions for r in together] == [r.distributions for r in alone]
    assert all(r.timings["read"] > 0 for r in together)


def test_postgres_reads_the_next_chunk_while_writing_this_one(db_engine: sa.Engine) -> None:
    recorder = Recorder()
    list(run_chunks(db_engine, _works(db_engine, recorder)))
    writes = [what for what, chunk in recorder.events if what.startswith("write")]
    if is_postgres(db_engine):
        # Chunks 0 and 1 were written while the next chunk's read had started; the last
        # chunk has no next one.
        assert writes == ["write-overlapped", "write-overlapped", "write"]
    else:
        # SQLite: every read comes after the previous chunk's write.
        assert writes == ["write", "write", "write"]
        assert recorder.events == [
            ("read", 0),
            ("write", 0),
            ("read", 1),
            ("write", 1),
            ("read", 2),
            ("write", 2),
        ]


class TwoAheadWork(EchoWork):
    """A chunk whose write waits for the read of the chunk after next to start."""

    def write(self, conn: sa.Connection, rows: Sequence[Any]) -> list[int]:
        later = self.recorder.read_started.setdefault(self.index + 2, threading.Event())
        overlapped = later.wait(timeout=self.wait)
        self.recorder.note("write-overlapped" if overlapped else "write", self.index)
        return [row // 2 for row in rows]


def test_postgres_reads_two_chunks_ahead(db_engine: sa.Engine) -> None:
    """While chunk 0 is computed and written, chunks 1 and 2 are both being read."""
    assert READ_AHEAD == 2
    recorder = Recorder()
    chunks = [[1], [2], [3], [4]]
    wait = 5.0 if is_postgres(db_engine) else 0.0
    works = [
        (TwoAheadWork(i, recorder, wait=wait if i < 2 else 0.0), ids)
        for i, ids in enumerate(chunks)
    ]
    reports = list(run_chunks(db_engine, works))
    assert [r.committed for r in reports] == chunks
    writes = [what for what, _chunk in recorder.events if what.startswith("write")]
    if is_postgres(db_engine):
        assert writes[:2] == ["write-overlapped", "write-overlapped"]
        first_write = recorder.events.index(("write-overlapped", 0))
        assert {("read", 1), ("read", 2)} <= set(recorder.events[:first_write])
    else:
        assert writes == ["write"] * 4


def test_a_failed_read_is_raised_at_its_chunks_turn(db_engine: sa.Engine) -> None:
    recorder = Recorder()
    reports = run_chunks(db_engine, _works(db_engine, recorder, fail_read_of=1))
    first = next(reports)
    assert first.committed == CHUNKS[0]
    with pytest.raises(ReadFailed, match="chunk 1"):
        next(reports)
    # Nothing of chunk 1 or 2 was written.
    assert [c for what, c in recorder.events if what.startswith("write")] == [0]


def test_postgres_sessions_run_without_jit(postgres_engine: sa.Engine) -> None:
    with postgres_engine.connect() as conn:
        assert conn.exec_driver_sql("SHOW jit").scalar_one() == "off"


def test_postgres_sessions_compress_large_values_with_lz4_where_built_in(
    postgres_engine: sa.Engine,
) -> None:
    """lz4 where the server has it (PostgreSQL 14 on, when built with it), else the
    server's own default; a large document is then stored lz4-compressed."""
    with postgres_engine.connect() as conn:
        methods = conn.exec_driver_sql(
            "SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression'"
        ).scalar_one()
        expected = "lz4" if "lz4" in methods else "pglz"
        assert conn.exec_driver_sql("SHOW default_toast_compression").scalar_one() == expected
        conn.exec_driver_sql("CREATE TEMP TABLE documents (body jsonb)")
        conn.exec_driver_sql(
            "INSERT INTO documents SELECT jsonb_agg(jsonb_build_object('n', i, 'v', 'x'))"
            " FROM generate_series(1, 1000) AS i"
        )
        stored = conn.exec_driver_sql("SELECT pg_column_compression(body) FROM documents")
        assert stored.scalar_one() == expected


class WriteBehindWork(EchoWork):
    """Notes when its compute runs; chunk ``fail_write``'s write raises.  A write waits
    (briefly) for the next chunk's compute to start."""

    def __init__(self, index: int, recorder: Recorder, fail_write: bool, wait: float) -> None:
        super().__init__(index, recorder, wait=wait)
        self.fail_write = fail_write
        for chunk in (index, index + 1):
            recorder.computed.setdefault(chunk, threading.Event())

    def compute(self, frames: Frames) -> pd.DataFrame:
        self.recorder.note("compute", self.index)
        self.recorder.computed[self.index].set()
        return super().compute(frames)

    def write(self, conn: sa.Connection, rows: Sequence[Any]) -> list[int]:
        overlapped = self.recorder.computed[self.index + 1].wait(timeout=self.wait)
        self.recorder.note("write-overlapped" if overlapped else "write", self.index)
        if self.fail_write:
            raise WriteFailed(f"chunk {self.index}")
        return [row // 2 for row in rows]


class WriteFailed(RuntimeError):
    pass


def test_postgres_writes_a_chunk_while_computing_the_next(db_engine: sa.Engine) -> None:
    recorder = Recorder()
    wait = 5.0 if is_postgres(db_engine) else 0.0
    works = [
        (WriteBehindWork(i, recorder, False, wait if i < len(CHUNKS) - 1 else 0.0), ids)
        for i, ids in enumerate(CHUNKS)
    ]
    reports = list(run_chunks(db_engine, works))
    assert [r.committed for r in reports] == CHUNKS
    writes = [what for what, _chunk in recorder.events if what.startswith("write")]
    if is_postgres(db_engine):
        assert writes == ["write-overlapped", "write-overlapped", "write"]
    else:
        assert writes == ["write", "write", "write"]


def test_a_failed_write_is_raised_at_its_chunks_turn_after_the_chunks_before(
    db_engine: sa.Engine,
) -> None:
    """A write's error (not a user's: the whole write) comes after the report of the
    chunk before it, and no later chunk is written."""
    recorder = Recorder()
    works = [(WriteBehindWork(i, recorder, i == 1, 0.0), ids) for i, ids in enumerate(CHUNKS)]
    reports = run_chunks(db_engine, works)
    assert next(reports).committed == CHUNKS[0]
    with pytest.raises(WriteFailed, match="chunk 1"):
        next(reports)
    assert [c for what, c in recorder.events if what.startswith("write")] == [0, 1]


class _Seen(Exception):
    """Stops a read once the setting it runs with is noted."""


@pytest.mark.parametrize("kind", ["one day", "range", "week", "floor"])
def test_small_reads_run_without_parallel_workers_and_the_setting_ends_with_them(
    postgres_engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """One day's and one week's chunk reads go without the server's parallel workers; a
    range's keep them, as does the I/O floor's; the pooled connection keeps nothing."""
    import datetime as dt

    from fitness_jobs.pipelines import nightly_chunk, weekly_chunk

    seen: list[str] = []

    def note(conn: sa.Connection, *_args: Any, **_kwargs: Any) -> Any:
        seen.append(conn.exec_driver_sql("SHOW max_parallel_workers_per_gather").scalar_one())
        raise _Seen

    day, now = dt.date(2026, 11, 28), dt.datetime(2026, 11, 29, 12, tzinfo=dt.UTC)
    work: Any
    if kind == "week":
        monkeypatch.setattr(weekly_chunk, "read_history", note)
        work = weekly_chunk.WeeklyChunk(dt.date(2026, 11, 16), pd.DataFrame(), False, now)
    else:
        monkeypatch.setattr(nightly_chunk.reads, "users", note)
        last = day + dt.timedelta(days=2) if kind == "range" else None
        work = nightly_chunk.NightlyChunk(
            day, now, last=last, parallel_reads=True if kind == "floor" else None
        )
    with postgres_engine.connect() as conn:
        default = conn.exec_driver_sql("SHOW max_parallel_workers_per_gather").scalar_one()
    assert default != "0"
    with pytest.raises(_Seen):
        read_chunk(postgres_engine, work, [1, 2])
    assert seen == (["0"] if kind in ("one day", "week") else [default])
    pooled = [postgres_engine.connect() for _ in range(postgres_engine.pool.checkedin())]
    try:
        after = {
            c.exec_driver_sql("SHOW max_parallel_workers_per_gather").scalar_one() for c in pooled
        }
    finally:
        for conn in pooled:
            conn.close()
    assert after == {default}
