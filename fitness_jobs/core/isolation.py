"""Per-user isolation for vectorised computation: run on the whole batch, bisect on error.

A vectorised step runs once for thousands of users.  If it raises, the batch is
split in halves and each half retried, down to single users; a single user whose
data still raises fails alone with an error code, and every other user's result is
kept.  A clean batch costs one call; ``k`` bad users cost about ``2k·log2(n)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")


def compute_error_code(exc: BaseException) -> str:
    """A short, stable error code for an exception (class name only: no data, no PII)."""
    return f"compute_error:{type(exc).__name__}"


@dataclass
class Isolated(Generic[T]):
    results: list[T] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)
    calls: int = 0


def isolate(user_ids: Sequence[int], fn: Callable[[Sequence[int]], T]) -> Isolated[T]:
    """Call ``fn`` on all ``user_ids``; on an exception bisect until the culprits are alone."""
    outcome: Isolated[T] = Isolated()
    stack: list[Sequence[int]] = [list(user_ids)] if len(user_ids) else []
    while stack:
        ids = stack.pop()
        outcome.calls += 1
        try:
            outcome.results.append(fn(ids))
        except Exception as exc:
            if len(ids) == 1:
                outcome.failed[int(ids[0])] = compute_error_code(exc)
                continue
            mid = len(ids) // 2
            stack.append(ids[mid:])
            stack.append(ids[:mid])
    return outcome
