"""Bisection isolates the users at fault; a failure shared by the whole batch stops at once."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from fitness_jobs.core.isolation import SystematicFailure, UserError, isolate


def test_one_bad_user_fails_alone_with_code_and_message() -> None:
    def fn(ids: Sequence[int]) -> list[int]:
        if 13 in ids:
            raise ValueError("weight column is not numeric\nDETAIL: row (13, 83.2)")
        return list(ids)

    outcome = isolate(list(range(1, 17)), fn)
    assert outcome.failed == {13: "compute_error:ValueError"}
    assert outcome.errors[13] == UserError(
        "compute_error:ValueError", "weight column is not numeric"
    )
    assert "ValueError" in outcome.errors[13].traceback
    assert sorted(u for batch in outcome.results for u in batch) == [
        i for i in range(1, 17) if i != 13
    ]
    # the batch, its 4 quarters, then 13–14 and 15–16's halves down to 13 alone: 1 + 4 + 2 + 2
    assert outcome.calls == 9


def test_a_failure_shared_by_every_user_is_systematic_and_bounded() -> None:
    calls: list[int] = []

    def fn(ids: Sequence[int]) -> None:
        calls.append(len(ids))
        raise KeyError("sessions_7d")

    with pytest.raises(SystematicFailure) as caught:
        isolate(list(range(100_000)), fn)
    assert calls == [100_000, 25_000, 25_000, 25_000, 25_000]  # not ~200,000 calls
    assert str(caught.value) == (
        "computation failed the same way for all 100000 users of a batch "
        "(compute_error:KeyError): 'sessions_7d'"
    )


def test_different_failures_in_every_quarter_are_bisected_not_systematic() -> None:
    def fn(ids: Sequence[int]) -> list[int]:
        bad = [i for i in ids if i % 4 == 0]
        if bad:
            raise ValueError(f"user {bad[0]} is bad")
        return list(ids)

    outcome = isolate(list(range(1, 17)), fn)
    assert sorted(outcome.failed) == [4, 8, 12, 16]
    assert outcome.errors[8].message == "user 8 is bad"


def test_small_batches_are_bisected_even_when_all_fail() -> None:
    def fn(ids: Sequence[int]) -> None:
        raise RuntimeError("boom")

    outcome = isolate([1, 2, 3], fn)
    assert outcome.failed == dict.fromkeys([1, 2, 3], "compute_error:RuntimeError")


def test_describe_none_propagates() -> None:
    def fn(ids: Sequence[int]) -> None:
        raise ConnectionError("lost")

    with pytest.raises(ConnectionError):
        isolate([1, 2], fn, describe=lambda exc: None)
