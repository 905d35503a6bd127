"""Per-user isolation for batch work: run on the whole batch, bisect on error.

A vectorised step (or a bulk write) runs once for thousands of users.  If it raises,
the batch is split in halves and each half retried, down to single users; a single user
whose data still raises fails alone with an error code and the exception's message, and
every other user's result is kept.  A clean batch costs one call; ``k`` bad users cost
about ``2k·log2(n)``.

A batch that fails *the same way everywhere* (schema drift, a missing privilege, a bug in
a formula) is not bisected user by user, which would take about ``2n − 1`` calls: when
the batch and each of its four quarters fail with the same error, the failure is
declared systematic and :class:`SystematicFailure` is raised at once, quoting it.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")

MESSAGE_CHARS = 300
# Batches at least this large are probed in quarters before bisecting.
SYSTEMATIC_PROBE_MIN_USERS = 8


@dataclass(frozen=True)
class UserError:
    """Why a user failed: a stable code and the exception's first line (no row values:
    a database's DETAIL lines, which may quote a row, are dropped)."""

    code: str
    message: str
    traceback: str = field(default="", compare=False, repr=False)


def short_traceback(exc: BaseException, frames: int = 6) -> str:
    """The last ``frames`` frames of the exception's traceback (code lines only)."""
    return "".join(traceback.format_exception(exc, limit=-frames)).strip()


def first_line(exc: BaseException) -> str:
    """The exception's message, first line only, at most ``MESSAGE_CHARS`` characters."""
    orig = getattr(exc, "orig", None)  # SQLAlchemy wraps the driver's error
    text = str(orig if orig is not None else exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    return line[:MESSAGE_CHARS]


def compute_error(exc: BaseException) -> UserError:
    """A computation that raised: ``compute_error:<class>`` and the message."""
    return UserError(f"compute_error:{type(exc).__name__}", first_line(exc), short_traceback(exc))


class SystematicFailure(RuntimeError):
    """Every part of a batch failed with the same error: a cause shared by all users."""

    def __init__(self, error: UserError, users: int, stage: str) -> None:
        self.error = error
        self.users = users
        self.stage = stage
        super().__init__(
            f"{stage} failed the same way for all {users} users of a batch "
            f"({error.code}): {error.message}"
        )


@dataclass
class Isolated(Generic[T]):
    """``results``: ``fn``'s value for each batch that succeeded; ``succeeded``: their
    users; ``errors``: each failed user's error (``failed``: just the codes)."""

    results: list[T] = field(default_factory=list)
    succeeded: list[int] = field(default_factory=list)
    errors: dict[int, UserError] = field(default_factory=dict)
    calls: int = 0
    splits: int = 0

    @property
    def failed(self) -> dict[int, str]:
        return {uid: error.code for uid, error in self.errors.items()}


def isolate(
    user_ids: Sequence[int],
    fn: Callable[[Sequence[int]], T],
    *,
    describe: Callable[[Exception], UserError | None] = compute_error,
    stage: str = "computation",
) -> Isolated[T]:
    """Call ``fn`` on all ``user_ids``; on an exception bisect until the culprits are alone.

    ``describe`` turns an exception into the users' error, or returns None to let it
    propagate (e.g. a transient database error, for the retry policy).  Raises
    :class:`SystematicFailure` when the whole batch and its four quarters fail alike.
    """
    outcome: Isolated[T] = Isolated()

    def attempt(ids: Sequence[int]) -> UserError | None:
        outcome.calls += 1
        try:
            outcome.results.append(fn(ids))
        except Exception as exc:
            error = describe(exc)
            if error is None:
                raise
            return error
        outcome.succeeded.extend(int(i) for i in ids)
        return None

    ids = list(user_ids)
    if not ids:
        return outcome
    error = attempt(ids)
    if error is None:
        return outcome
    stack: list[tuple[Sequence[int], UserError]] = []
    if len(ids) >= SYSTEMATIC_PROBE_MIN_USERS:
        step = -(-len(ids) // 4)
        quarters = [ids[i : i + step] for i in range(0, len(ids), step)]
        outcome.splits += 1
        errors = [attempt(q) for q in quarters]
        if all(e == error for e in errors):
            raise SystematicFailure(error, len(ids), stage)
        stack = [(q, e) for q, e in zip(quarters, errors, strict=True) if e is not None]
    else:
        stack = [(ids, error)]
    while stack:
        batch, error = stack.pop()
        if len(batch) == 1:
            outcome.errors[int(batch[0])] = error
            continue
        outcome.splits += 1
        mid = len(batch) // 2
        for half in (batch[mid:], batch[:mid]):
            half_error = attempt(half)
            if half_error is not None:
                stack.append((half, half_error))
    return outcome
