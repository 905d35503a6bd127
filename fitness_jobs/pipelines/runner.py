"""The chunk runner shared by both jobs: read → validate → compute → write, with isolation.

A job says only what differs, as a :class:`ChunkWork`; :func:`run_chunk` takes a chunk of
user ids and returns a :class:`ChunkReport`.  Chunks are independent, so any executor can
run them as separate steps and merge the reports (:meth:`RunReport.add`).

Isolation (design §8): bad rows are validated out first (counted by reason, or failing
only their user); if the vectorised computation of a chunk raises, it is bisected until
the users at fault are alone (``core.isolation``); if the database refuses a chunk's
write, the write is bisected the same way (``db.isolated_writes.write_isolated``).  Everyone else's
rows commit.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, Generic, Protocol, TypeVar

import pandas as pd
import sqlalchemy as sa

from fitness_jobs.core.isolation import UserError, isolate
from fitness_jobs.db.engine import is_postgres
from fitness_jobs.db.isolated_writes import write_isolated

Frames = dict[str, pd.DataFrame]
Out = TypeVar("Out")
PHASES = ("read", "validate", "compute", "write")
READ_AHEAD = 2  # chunks read at once, ahead of the one being computed (PostgreSQL)


def frames_of(frames: Frames, user_ids: Sequence[int]) -> Frames:
    """The rows of ``user_ids`` in every frame (each frame has a ``user_id`` column)."""
    wanted = set(user_ids)
    return {name: frame[frame["user_id"].isin(wanted)] for name, frame in frames.items()}


@dataclass
class Validated:
    """What a job's validation keeps, and what it set aside."""

    frames: Frames  # must include "users"; the chunk's users are frames["users"]["user_id"]
    failed: dict[int, str] = field(default_factory=dict)
    excluded_rows: Counter[str] = field(default_factory=Counter)
    timezones: Counter[str] = field(default_factory=Counter)


class ChunkWork(Protocol, Generic[Out]):
    """What one job does with a chunk of users.  ``compute`` is vectorised over every user
    in the frames it is given (a subset when bisecting); ``records`` turns its outputs into
    the rows to write, by user; ``write`` writes some users' rows in the open transaction
    and returns the ids whose rows changed (or only how many, ``ChangedRows``); ``tally``
    adds the job's own distributions for the committed users to the report."""

    def read(self, conn: sa.Connection, user_ids: Sequence[int]) -> Frames: ...

    def validate(self, raw: Frames) -> Validated: ...

    def compute(self, frames: Frames) -> Out: ...

    def records(self, outputs: Sequence[Out]) -> dict[int, Any]: ...

    def write(self, conn: sa.Connection, rows: Sequence[Any]) -> list[int] | ChangedRows: ...

    def tally(
        self, outputs: Sequence[Out], committed: Sequence[int], report: ChunkReport
    ) -> None: ...


@dataclass
class ChunkReport:
    """What one chunk did.  ``committed``: users whose rows are in the database after it
    (written or already identical); ``changed_rows``: the rows it inserted or altered;
    ``changed``: their users, when the job's write lists them (not ``ChangedRows``)."""

    users: int = 0
    committed: list[int] = field(default_factory=list)
    changed: list[int] = field(default_factory=list)
    changed_rows: int = 0
    errors: dict[int, UserError] = field(default_factory=dict)
    excluded_rows: Counter[str] = field(default_factory=Counter)
    timezones: Counter[str] = field(default_factory=Counter)
    timings: dict[str, float] = field(default_factory=lambda: dict.fromkeys(PHASES, 0.0))
    bisections: int = 0
    distributions: dict[str, Counter[str]] = field(default_factory=dict)

    @property
    def failed(self) -> dict[int, str]:
        return {uid: error.code for uid, error in self.errors.items()}

    def count(self, name: str, values: Sequence[Any]) -> None:
        """Add ``values`` to the distribution ``name`` (e.g. lapse bands)."""
        self.distributions.setdefault(name, Counter()).update(str(v) for v in values)

    def add_counts(self, name: str, counts: Mapping[str, int]) -> None:
        """Add counts already made (value → how many) to the distribution ``name``."""
        self.distributions.setdefault(name, Counter()).update(counts)


@dataclass(frozen=True)
class ChangedRows:
    """What a job's ``write`` returns when it counts the rows it inserted or altered
    rather than listing their users: how many carry each label (a range's partition
    days).  The nightly job's write of a range changes a million rows; nothing needs
    their users, only how many by day."""

    labels: Mapping[str, int]

    @property
    def rows(self) -> int:
        return sum(self.labels.values())


@dataclass(frozen=True)
class DistinctFailure:
    """Users failing with the same code and message, with a few sample ids and the first
    traceback."""

    code: str
    message: str
    users: int
    sample_user_ids: list[int]
    traceback: str = ""


VALIDATION_MESSAGES = {
    "invalid_timezone": "users.timezone is not an IANA time zone name (nor NULL or blank)",
}


@dataclass
class RunReport:
    """What a whole run did: the merged chunk reports, plus the run's own facts."""

    users: int = 0
    committed: int = 0
    changed: int = 0
    chunks: int = 0
    bisections: int = 0
    lock_wait_s: float = 0.0
    errors: dict[int, UserError] = field(default_factory=dict)
    excluded_rows: Counter[str] = field(default_factory=Counter)
    timezones: Counter[str] = field(default_factory=Counter)
    timings: dict[str, float] = field(default_factory=lambda: dict.fromkeys(PHASES, 0.0))
    distributions: dict[str, Counter[str]] = field(default_factory=dict)
    changed_user_ids: list[int] = field(default_factory=list)

    def add(self, chunk: ChunkReport) -> None:
        self.users += chunk.users
        self.committed += len(chunk.committed)
        self.changed += chunk.changed_rows
        self.changed_user_ids.extend(chunk.changed)
        self.chunks += 1
        self.bisections += chunk.bisections
        self.errors.update(chunk.errors)
        self.excluded_rows.update(chunk.excluded_rows)
        self.timezones.update(chunk.timezones)
        for phase, seconds in chunk.timings.items():
            self.timings[phase] = self.timings.get(phase, 0.0) + seconds
        for name, counts in chunk.distributions.items():
            self.distributions.setdefault(name, Counter()).update(counts)

    def merge(self, other: RunReport) -> None:
        """Add another run report over other users (a step of a fanned-out run)."""
        self.users += other.users
        self.committed += other.committed
        self.changed += other.changed
        self.changed_user_ids.extend(other.changed_user_ids)
        self.chunks += other.chunks
        self.bisections += other.bisections
        self.lock_wait_s += other.lock_wait_s
        self.errors.update(other.errors)
        self.excluded_rows.update(other.excluded_rows)
        self.timezones.update(other.timezones)
        for phase, seconds in other.timings.items():
            self.timings[phase] = self.timings.get(phase, 0.0) + seconds
        for name, counts in other.distributions.items():
            self.distributions.setdefault(name, Counter()).update(counts)

    @property
    def failed(self) -> dict[int, str]:
        """Failed users and their error codes."""
        return {uid: error.code for uid, error in self.errors.items()}

    @property
    def failure_codes(self) -> Counter[str]:
        return Counter(self.failed.values())

    def distinct_failures(self, samples: int = 5) -> list[DistinctFailure]:
        """One entry per distinct (code, message), most users first."""
        groups: dict[UserError, list[int]] = {}
        for uid, error in sorted(self.errors.items()):
            groups.setdefault(error, []).append(uid)
        found = [
            DistinctFailure(e.code, e.message, len(ids), ids[:samples], e.traceback)
            for e, ids in groups.items()
        ]
        return sorted(found, key=lambda f: (-f.users, f.code, f.message))


@dataclass(frozen=True)
class Read:
    """A chunk's raw frames and the seconds its reads took."""

    frames: Frames
    seconds: float


def read_chunk(engine: sa.Engine, work: ChunkWork[Out], user_ids: Sequence[int]) -> Read:
    """One chunk's reads, on a connection of its own, and how long they took."""
    started = time.perf_counter()
    with engine.connect() as conn:
        raw = work.read(conn, user_ids)
    return Read(raw, time.perf_counter() - started)


def run_chunk(engine: sa.Engine, work: ChunkWork[Out], user_ids: Sequence[int]) -> ChunkReport:
    """Read, validate, compute and write one chunk of users, isolating failures."""
    return finish_chunk(engine, work, user_ids, read_chunk(engine, work, user_ids))


def run_chunks(
    engine: sa.Engine, chunks: Iterable[tuple[ChunkWork[Any], Sequence[int]]]
) -> Iterator[ChunkReport]:
    """Run chunks in order, yielding each one's report as it finishes.

    On PostgreSQL the next :data:`READ_AHEAD` chunks are read ahead, each on a connection
    of its own in a thread, while this one is validated and computed, and the one before
    is written in another thread: the server works on the reads and the write while
    Python computes, so a run takes about the longest of the three, not their sum
    (design §11).  Two reads at once keep both of the server's cores busy where one
    read's queries use one; a third chunk in memory costs about 70 MB at 5,000 users.
    The chunks are other users, so nothing one writes is read by the next, and the
    writes commit in chunk order, one at a time.  On SQLite they run one by one: its
    reads and writes run in this process, with no server to work alongside.
    A read's or a write's error is raised when its chunk's turn comes, after the chunks
    before it committed.
    """
    if not is_postgres(engine):
        for work, user_ids in chunks:
            yield run_chunk(engine, work, user_ids)
        return
    todo = iter(chunks)
    pending: deque[tuple[ChunkWork[Any], Sequence[int], Future[Read]]] = deque()
    writing: Future[ChunkReport] | None = None
    with (
        ThreadPoolExecutor(max_workers=READ_AHEAD, thread_name_prefix="read-ahead") as pool,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="write-behind") as writer,
    ):

        def submit() -> None:
            for work, user_ids in islice(todo, READ_AHEAD - len(pending)):
                pending.append((work, user_ids, pool.submit(read_chunk, engine, work, user_ids)))

        try:
            submit()
            while pending:
                work, user_ids, future = pending.popleft()
                try:
                    read = future.result()
                except BaseException:
                    if writing is not None:  # the chunk before it commits first
                        done, writing = writing, None
                        yield done.result()
                    raise
                submit()
                computed = compute_chunk(work, user_ids, read)
                if writing is not None:
                    yield writing.result()
                writing = writer.submit(write_chunk, engine, work, computed)
            if writing is not None:
                done, writing = writing, None
                yield done.result()
        finally:
            for _work, _ids, future in pending:
                future.cancel()


@dataclass
class Computed(Generic[Out]):
    """A chunk validated and computed, its rows waiting to be written."""

    report: ChunkReport
    results: list[Out]
    rows: dict[int, Any]


def finish_chunk(
    engine: sa.Engine, work: ChunkWork[Out], user_ids: Sequence[int], read: Read
) -> ChunkReport:
    """Validate, compute and write a chunk that has been read, isolating failures."""
    return write_chunk(engine, work, compute_chunk(work, user_ids, read))


def compute_chunk(work: ChunkWork[Out], user_ids: Sequence[int], read: Read) -> Computed[Out]:
    """Validate and compute a chunk that has been read, isolating failures."""
    report = ChunkReport(users=len(user_ids))
    report.timings["read"] = read.seconds
    raw = read.frames
    clock = time.perf_counter()

    def lap(phase: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        report.timings[phase] += now - clock
        clock = now

    valid = work.validate(raw)
    report.errors.update(
        {
            uid: UserError(code, VALIDATION_MESSAGES.get(code, code))
            for uid, code in valid.failed.items()
        }
    )
    report.excluded_rows.update(valid.excluded_rows)
    report.timezones.update(valid.timezones)
    lap("validate")

    everyone = valid.frames["users"]["user_id"].tolist()

    def compute(ids: Sequence[int]) -> Out:
        # The clean path is one vectorised call for the whole chunk.
        return work.compute(
            valid.frames if len(ids) == len(everyone) else frames_of(valid.frames, ids)
        )

    computed = isolate(everyone, compute)
    report.errors.update(computed.errors)
    report.bisections += max(0, computed.calls - 1)
    rows = work.records(computed.results) if computed.results else {}
    lap("compute")
    return Computed(report, computed.results, rows)


def write_chunk(engine: sa.Engine, work: ChunkWork[Out], computed: Computed[Out]) -> ChunkReport:
    """Write a computed chunk's rows, isolating the users whose rows are refused."""
    report, rows = computed.report, computed.rows
    if not computed.results:
        return report
    started = time.perf_counter()
    to_write = [uid for uid in rows if uid not in report.errors]
    written = write_isolated(
        engine, to_write, lambda conn, ids: work.write(conn, [rows[i] for i in ids])
    )
    report.errors.update(written.errors)
    report.bisections += written.bisections
    report.committed = list(written.committed)
    for batch in written.returned:
        if isinstance(batch, ChangedRows):  # counted by label (``distributions``)
            report.changed_rows += batch.rows
            report.add_counts("changed", batch.labels)
        else:
            report.changed.extend(batch)
            report.changed_rows += len(batch)
    report.timings["write"] += time.perf_counter() - started
    work.tally(computed.results, report.committed, report)
    return report
