"""Training load helpers: sRPE, EWMA, PMC (CTL/ATL/TSB) and EWMA ACWR."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.signal import lfilter

from fitness_jobs.core import loads


def test_session_srpe_missing_factor_is_zero() -> None:
    rpe = np.array([7.0, np.nan, 5.0, np.nan])
    secs = np.array([3600.0, 1800.0, np.nan, np.nan])
    assert loads.session_srpe(rpe, secs).tolist() == [420.0, 0.0, 0.0, 0.0]


def test_session_minutes() -> None:
    assert loads.session_minutes(np.array([90.0, np.nan, 0.0])).tolist() == [1.5, 0.0, 0.0]


def test_ewma_recursion_seeded_at_zero() -> None:
    x = np.array([[10.0, 0.0, 20.0]])
    got = loads.ewma(x, 0.5)
    # 0 + 0.5·(10 − 0) = 5; 5 + 0.5·(0 − 5) = 2.5; 2.5 + 0.5·(20 − 2.5) = 11.25
    assert got.tolist() == [[5.0, 2.5, 11.25]]
    assert loads.ewma(np.zeros((2, 0)), 0.5).shape == (2, 0)
    assert loads.ewma(x, 0.5, last=2).tolist() == [[2.5, 11.25]]
    assert loads.ewma(x, 0.5, last=9).tolist() == [[5.0, 2.5, 11.25]]


@pytest.mark.parametrize(
    "alpha",
    [1 / loads.CTL_DAYS, 1 / loads.ATL_DAYS, loads.ACWR_ACUTE_LAMBDA, loads.ACWR_CHRONIC_LAMBDA],
)
def test_ewma_is_bit_for_bit_scipys_lfilter(alpha: float) -> None:
    """The step-by-step recursion rounds as ``lfilter`` does: equal values, not close ones
    (the metrics' rows must not change by the last bit when the implementation does)."""
    rng = np.random.default_rng(20261202)
    daily = rng.exponential(300.0, (400, 180)) * (rng.random((400, 180)) < 0.4)
    daily[:5] = np.array([1e-300, 1e300, 7.0, 0.1, 123456.789])[:, None]  # tiny, huge, inexact
    expected = lfilter([alpha], [1.0, -(1.0 - alpha)], daily, axis=-1)
    assert np.array_equal(loads.ewma(daily, alpha), expected)
    assert np.array_equal(loads.ewma(daily, alpha, last=2), expected[:, -2:])
    assert np.array_equal(loads.ewma(daily[0], alpha), expected[0])  # one series


def test_training_loads_in_one_pass_are_each_ewma_bit_for_bit() -> None:
    """CTL, ATL, TSB and ACWR from one pass over the days (four smoothing constants at
    once) equal, value for value, what one ``lfilter`` per constant gives."""
    rng = np.random.default_rng(7)
    daily = rng.exponential(250.0, (300, 180)) * (rng.random((300, 180)) < 0.5)
    daily[0] = 0.0  # chronic 0: no ratio

    def filtered(alpha: float) -> np.ndarray:
        return lfilter([alpha], [1.0, -(1.0 - alpha)], daily, axis=-1)

    ctl, atl = filtered(1 / loads.CTL_DAYS), filtered(1 / loads.ATL_DAYS)
    acute, chronic = filtered(loads.ACWR_ACUTE_LAMBDA), filtered(loads.ACWR_CHRONIC_LAMBDA)
    got = loads.training_loads(daily)
    assert np.array_equal(got["ctl"], ctl[:, -1])
    assert np.array_equal(got["atl"], atl[:, -1])
    assert np.array_equal(got["tsb"], ctl[:, -2] - atl[:, -2])
    assert np.isnan(got["acwr"][0])
    assert np.array_equal(got["acwr"][1:], acute[1:, -1] / chronic[1:, -1])
    assert np.array_equal(loads.ewmas(daily, [0.5, 0.25])[1], filtered(0.25))


def test_daily_matrix_sums_and_drops_out_of_range() -> None:
    m = loads.daily_matrix(
        row=np.array([0, 0, 1, 1, 1, -1]),
        offset=np.array([0, 0, 2, 3, -1, 0]),
        values=np.array([1.0, 2.0, 5.0, 7.0, 9.0, 11.0]),
        n_rows=2,
        n_days=3,
    )
    assert m.tolist() == [[3.0, 0.0, 0.0], [0.0, 0.0, 5.0]]


def test_pmc_published_vector() -> None:
    daily = np.full((1, 42), 100.0)
    pmc = loads.performance_management(daily)
    # Constant load L from 0: x_n = L·(1 − (1 − 1/k)^n), n = 42 days (k = 42 for CTL, 7 for ATL)
    assert pmc["ctl"][0] == pytest.approx(100 * (1 - (41 / 42) ** 42), rel=1e-12)
    assert pmc["atl"][0] == pytest.approx(100 * (1 - (6 / 7) ** 42), rel=1e-12)
    assert (round(pmc["ctl"][0], 3), round(pmc["atl"][0], 3)) == (63.654, 99.846)  # design §5.4
    ctl41 = 100 * (1 - (41 / 42) ** 41)
    atl41 = 100 * (1 - (6 / 7) ** 41)
    assert pmc["tsb"][0] == pytest.approx(ctl41 - atl41, rel=1e-12)


def test_pmc_leading_zeros_do_not_matter_and_single_day_tsb() -> None:
    a = loads.performance_management(np.full((1, 42), 100.0))
    b = loads.performance_management(
        np.concatenate([np.zeros((1, 138)), np.full((1, 42), 100.0)], axis=1)
    )
    assert a["ctl"][0] == pytest.approx(100 * (1 - (41 / 42) ** 42), rel=1e-12)
    assert b["ctl"][0] == pytest.approx(100 * (1 - (41 / 42) ** 42), rel=1e-12)
    assert b["tsb"][0] == pytest.approx(100 * ((6 / 7) ** 41 - (41 / 42) ** 41), rel=1e-12)
    one = loads.performance_management(np.array([[100.0]]))
    assert one["ctl"][0] == pytest.approx(100 / 42)
    assert one["tsb"][0] == 0.0


def test_acwr_williams_vector() -> None:
    daily = np.array([[420, 0, 420, 0, 420, 0, 0] * 3 + [600, 0, 600, 0, 600, 0, 0]], dtype=float)
    assert loads.acute_chronic_ratio(daily)[0] == pytest.approx(_acwr_by_hand(daily[0]), rel=1e-12)
    assert round(loads.acute_chronic_ratio(daily)[0], 3) == 1.017  # design §5.4


def _acwr_by_hand(series: np.ndarray) -> float:
    acute = chronic = 0.0
    for load in series:
        acute += 2 / 8 * (load - acute)
        chronic += 2 / 29 * (load - chronic)
    return acute / chronic


def test_acwr_nan_when_chronic_zero() -> None:
    out = loads.acute_chronic_ratio(np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 10.0]]))
    assert math.isnan(out[0])
    # acute 0.25·10 over chronic (2/29)·10
    assert out[1] == pytest.approx(0.25 / (2 / 29))
