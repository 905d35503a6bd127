"""Transformation prediction (design §7): Theil–Sen, Hall τ, data rules and flags."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import theilslopes

from fitness_jobs.core.calendar import day_number
from fitness_jobs.core.prediction import (
    PREDICTION_COLUMNS,
    hall_tau,
    hall_tau_array,
    jackson_percent_fat,
    mifflin_st_jeor_rmr,
    predict_transformations,
    theil_sen,
    theil_sen_matrix,
    whole_years,
)

W = day_number(dt.date(2026, 11, 23))  # a Monday
VECTOR = [90.0, 90.6, 89.7, 89.9, 90.3, 89.4, 89.6, 89.8, 89.1, 89.5, 89.0, 89.3, 88.7, 89.2]


def profile(
    user_id: int = 1, sex: str | None = None, birth: dt.date | None = None, height: float = math.nan
) -> dict[str, object]:
    return {"user_id": user_id, "sex": sex, "birth_date": birth, "height_cm": height}


def weigh_ins(user_id: int, days: list[int], weights: list[float] | None = None) -> pd.DataFrame:
    if weights is None:
        weights = [80.0 - 0.05 * i for i in range(len(days))]
    return pd.DataFrame({"user_id": user_id, "local_day": days, "weight_kg": weights})


def predict(wi: pd.DataFrame, profiles: list[dict[str, object]]) -> pd.DataFrame:
    return predict_transformations(wi, pd.DataFrame(profiles), W)


def one(wi: pd.DataFrame, prof: dict[str, object] | None = None) -> pd.Series:
    out = predict(wi, [prof or profile()])
    assert len(out) == 1
    return out.iloc[0]


# --------------------------------------------------------------------------- Theil–Sen


def test_theil_sen_small_dataset_by_hand() -> None:
    # x = 0…4, y = 1, 3, 2, 5, 4.  The 10 pairwise slopes (y_j − y_i)/(j − i), sorted:
    # −1, −1, 1/3, 1/2, 3/4, 1, 1, 4/3, 2, 3 → median (3/4 + 1)/2 = 0.875.
    # Intercept (Conover): median(y) − slope·median(x) = 3 − 0.875·2 = 1.25.
    # Sen's 90 % interval: Var S = n(n−1)(2n+5)/18 = 5·4·15/18 = 50/3, C = 1.6449·√(50/3)
    # = 6.7153; ranks M1 = round((10 − C)/2) = 2 and M2 = round((10 + C)/2) + 1 = 9
    # (1-based) → the 2nd and 9th smallest slopes: −1 and 2.
    x = [0, 1, 2, 3, 4]
    y = [1.0, 3.0, 2.0, 5.0, 4.0]
    assert theil_sen(x, y, 0.90) == (0.875, 1.25, -1.0, 2.0)
    slope, intercept, low, high = theil_sen_matrix(np.array([y, [*y[:4], np.nan]]), 0.90)
    assert (slope[0], intercept[0], low[0], high[0]) == (0.875, 1.25, -1.0, 2.0)
    # first four points: slopes 2, 1/2, 4/3, −1, 1, 3 → sorted −1, 1/2, 1, 4/3, 2, 3,
    # median (1 + 4/3)/2 = 7/6; intercept median(y) − slope·1.5 = 2.5 − 1.75 = 0.75.
    assert slope[1] == pytest.approx(7 / 6, abs=1e-15)
    assert intercept[1] == pytest.approx(0.75, abs=1e-15)


def test_theil_sen_reference_vector() -> None:
    slope, intercept, low, high = theil_sen(list(range(14)), VECTOR, 0.90)
    assert slope == pytest.approx(-0.1, abs=5e-5)
    assert (low, high) == (pytest.approx(-0.1375, abs=5e-5), pytest.approx(-0.0571, abs=5e-5))
    assert intercept == pytest.approx(90.2, abs=1e-9)  # median(y) − slope·median(x) = 89.55 + 0.65
    assert intercept + 13 * slope == pytest.approx(88.9, abs=1e-9)


def test_vectorised_theil_sen_matches_scipy_exactly() -> None:
    rng = np.random.default_rng(7)
    y = np.round(80 + rng.normal(0, 0.6, (400, 28)), 1)  # rounding makes ties in y
    keep = rng.random((400, 28)) < rng.uniform(0.15, 0.95, (400, 1))
    keep[:, [0, 27]] = True
    y[~keep] = np.nan
    slope, intercept, low, high = theil_sen_matrix(y, 0.90)
    for i in range(len(y)):
        xs = np.flatnonzero(~np.isnan(y[i]))
        ref = theilslopes(y[i, xs], xs.astype(float), 0.90, method="separate")
        assert (slope[i], intercept[i], low[i], high[i]) == (
            ref.slope,
            ref.intercept,
            ref.low_slope,
            ref.high_slope,
        ), i


# --------------------------------------------------------------------------- Hall τ


def test_mifflin_st_jeor_reference_people() -> None:
    # Mifflin et al. (1990): 10·kg + 6.25·cm − 5·age + 5 (men) / − 161 (women)
    rmr = mifflin_st_jeor_rmr(
        np.array([True, False]),
        np.array([70.0, 60.0]),
        np.array([175.0, 165.0]),
        np.array([30, 30]),
    )
    assert rmr[0] == 1648.75  # 700 + 1093.75 − 150 + 5
    assert rmr[1] == 1320.25  # 600 + 1031.25 − 150 − 161


def test_jackson_2002_percent_fat_at_bmi_25() -> None:
    # ln 25 = 3.2188758…; men 0.14·40 + 37.31·ln 25 − 103.94, women 0.14·40 + 39.96·ln 25 − 102.01
    pct = jackson_percent_fat(np.array([True, False]), np.array([40, 40]), np.array([25.0, 25.0]))
    assert pct[0] == pytest.approx(21.7563, abs=1e-4)
    assert pct[1] == pytest.approx(32.2163, abs=1e-4)


def test_hall_tau_reference_man() -> None:
    # 40-year-old man, 180 cm, 100 kg: BMI 30.864, %BF 0.14·40 + 37.31·ln 30.864 − 103.94
    # = 29.618 → FM 29.618 kg; RMR 1000 + 1125 − 200 + 5 = 1930; α = 10.4/FM = 0.35113;
    # ε = (3.107 + α·21.99)/(1 + α) + 0.44·1930/100 = 8.0143 + 8.492 = 16.5063;
    # ρ = (9620 + α·2045.8)/(1 + α) = 7651.6; τ = ρ/ε = 463.556 days.
    assert hall_tau("male", 40, 180, 100) == pytest.approx(463.556, abs=1e-3)


def test_hall_tau_outside_the_model_domain_is_400() -> None:
    # 20-year-old man, 180 cm, 45 kg: BMI 13.89, %BF = 2.8 + 37.31·ln 13.89 − 103.94 = −2.97 ≤ 0
    bmi = 45 / 1.8**2
    assert 0.14 * 20 + 37.31 * math.log(bmi) - 103.94 < 0
    assert hall_tau("male", 20, 180, 45) == 400.0
    days = list(range(W - 7, W + 7))
    series = [45.2 - 0.02 * i for i in range(14)]
    row = one(
        weigh_ins(1, days, series), profile(sex="male", birth=dt.date(2006, 1, 1), height=180.0)
    )
    assert row["status"] == "ok"
    assert row["tau_days"] == 400.0
    assert "tau_default" in row["flags"]
    assert "bmi_floor_unknown" not in row["flags"]


def test_hall_tau_woman_by_hand() -> None:
    # 30-year-old woman, 165 cm, 70 kg, every step written out.
    bmi = 70 / 1.65**2
    fm = 70 * (0.14 * 30 + 39.96 * math.log(bmi) - 102.01) / 100
    rmr = 10 * 70 + 6.25 * 165 - 5 * 30 - 161
    a = 10.4 / fm
    eps = (3.107 + a * 21.99) / (1 + a) + (0.9 * 1.6 - 1) * rmr / 70
    rho = (9440.7 + 179.3 + a * (1816.4 + 229.4)) / (1 + a)
    assert hall_tau("female", 30, 165, 70) == pytest.approx(rho / eps, rel=1e-12)
    assert hall_tau("female", 30, 165, 70) == pytest.approx(400.19, abs=0.01)


@pytest.mark.parametrize(
    ("sex", "age", "height"),
    [(None, 40, 180), ("male", None, 180), ("male", 40, None), ("other", 40, 180)],
)
def test_hall_tau_missing_inputs_give_400(
    sex: str | None, age: float | None, height: float | None
) -> None:
    assert hall_tau(sex, age, height, 100) == 400.0


def test_hall_tau_array_matches_scalar() -> None:
    taus = hall_tau_array(
        np.array(["male", "female", None], dtype=object),
        np.array([40, 30, 40], dtype=float),
        np.array([180, 165, 180], dtype=float),
        np.array([100, 70, 100], dtype=float),
    )
    assert taus[0] == pytest.approx(463.5556, abs=1e-3)
    assert taus[1] == hall_tau("female", 30, 165, 70)
    assert taus[2] == 400.0


def test_whole_years_on_the_last_day_of_the_week() -> None:
    on = dt.date(2026, 11, 29)
    born = pd.Series([dt.date(1986, 11, 29), dt.date(1986, 11, 30), None, dt.date(2000, 2, 29)])
    ages = whole_years(born, on)
    assert ages[0] == 40 and ages[1] == 39 and math.isnan(ages[2]) and ages[3] == 26


# --------------------------------------------------------------------------- projections


def test_reference_vector_projections_with_tau_400() -> None:
    row = one(weigh_ins(1, list(range(W - 7, W + 7)), VECTOR))
    assert list(predict(weigh_ins(1, [W], [80.0]), [profile()]).columns) == PREDICTION_COLUMNS
    assert row["status"] == "ok"
    assert row["method"] == "theil_sen+hall2011_linearized"
    assert row["weigh_in_count"] == 14
    assert row["tau_days"] == 400.0
    assert row["trend_weight_kg"] == pytest.approx(88.90, abs=0.005)
    assert row["rate_kg_per_week"] == pytest.approx(-0.7, abs=1e-9)
    assert row["rate_pct_bw_per_week"] == pytest.approx(-70 / 88.9, abs=1e-6)
    assert row["projected_4w_kg"] == pytest.approx(86.20, abs=0.01)
    assert row["projected_8w_kg"] == pytest.approx(83.67, abs=0.01)
    assert row["projected_12w_kg"] == pytest.approx(81.32, abs=0.01)
    assert row["projected_4w_kg_low"] == pytest.approx(85.18, abs=0.01)
    assert row["projected_4w_kg_high"] == pytest.approx(87.36, abs=0.01)
    # the band goes through the same formula with the interval's slopes
    f56 = 400 * (1 - math.exp(-56 / 400))
    assert row["projected_8w_kg_low"] == pytest.approx(88.9 - 0.1375 * f56, abs=0.005)
    assert row["projected_8w_kg_high"] == pytest.approx(88.9 - 0.05714 * f56, abs=0.005)
    # −0.79 %/week is within the recommended pace; the interval excludes 0; no height:
    # the BMI floor is unknown (nothing clamped) and τ is the default
    assert row["flags"] == ["bmi_floor_unknown", "tau_default"]


def test_hall_tau_used_with_trend_weight_and_age_on_week_end() -> None:
    # born one day after W+6, 40 years earlier → still 39 on W+6
    prof = profile(sex="male", birth=dt.date(1986, 11, 30), height=180.0)
    row = one(weigh_ins(1, list(range(W - 7, W + 7)), VECTOR), prof)
    assert row["tau_days"] == pytest.approx(hall_tau("male", 39, 180, row["trend_weight_kg"]))
    assert row["tau_days"] != pytest.approx(hall_tau("male", 40, 180, row["trend_weight_kg"]))
    f = row["tau_days"] * (1 - math.exp(-28 / row["tau_days"]))
    assert row["projected_4w_kg"] == pytest.approx(row["trend_weight_kg"] - 0.1 * f, abs=1e-9)
    assert "tau_default" not in row["flags"]


def test_daily_mean_and_raw_count_and_window() -> None:
    days = list(range(W - 7, W + 7))
    weights = list(VECTOR)
    # a second weigh-in on the first day averaging to the same 90.0, and one outside the window
    wi = pd.concat(
        [
            weigh_ins(1, days, weights),
            weigh_ins(1, [W - 7, W - 22, W + 7], [89.0, 50.0, 50.0]),
        ],
        ignore_index=True,
    )
    wi.loc[wi.index[0], "weight_kg"] = 91.0  # day W−7: (91 + 89)/2 = 90.0
    row = one(wi)
    assert row["weigh_in_count"] == 15  # raw weigh-ins inside [W−21, W+6]
    assert row["trend_weight_kg"] == pytest.approx(88.90, abs=0.005)
    assert row["projected_4w_kg"] == pytest.approx(86.20, abs=0.01)


# --------------------------------------------------------------------------- insufficient data


@pytest.mark.parametrize(
    ("days", "flag"),
    [
        ([W - 8, W - 6, W - 4, W - 2, W, W + 2, W + 6], "too_few_weigh_in_days"),
        (list(range(W - 6, W + 7)), "span_under_13_days"),
        ([*range(W - 14, W - 7), W, W + 3, W + 6], "no_weigh_in_prior_week"),
        (list(range(W - 20, W)), "no_weigh_in_this_week"),
    ],
    ids=["7_days", "span_12", "none_in_prior_week", "none_in_this_week"],
)
def test_insufficient_data_each_rule(days: list[int], flag: str) -> None:
    row = one(weigh_ins(1, days))
    assert row["status"] == "insufficient_data"
    assert row["flags"] == [flag]  # exactly that rule fails
    assert row["weigh_in_count"] == len(days)
    for col in PREDICTION_COLUMNS[4:-1]:
        assert math.isnan(row[col]), col


def test_latest_weigh_in_eight_days_before_week_end_is_stale() -> None:
    row = one(weigh_ins(1, list(range(W - 21, W - 1))))  # latest W−2 = W+6 − 8
    assert row["status"] == "insufficient_data"
    assert "latest_weigh_in_stale" in row["flags"]
    # latest W−1 (7 days before W+6) is not stale: only the this-week rule fails
    assert one(weigh_ins(1, list(range(W - 20, W))))["flags"] == ["no_weigh_in_this_week"]


@pytest.mark.parametrize(
    "days",
    [
        [W - 8, W - 6, W - 4, W - 2, W, W + 2, W + 4, W + 6],  # exactly 8 days
        list(range(W - 7, W + 7)),  # span exactly 13
        [W - 7, W - 5, W - 3, W - 1, W + 1, W + 3, W + 4, W - 1 + 7],
    ],
)
def test_boundaries_are_sufficient(days: list[int]) -> None:
    assert one(weigh_ins(1, days))["status"] == "ok"


def test_window_excludes_older_days_and_users_without_data() -> None:
    # 7 days in the window plus one at W−22: still too few
    days = [W - 22, W - 8, W - 6, W - 4, W - 2, W, W + 2, W + 6]
    out = predict(weigh_ins(1, days), [profile(1), profile(2)])
    assert list(out["user_id"]) == [1, 2]
    assert out.iloc[0]["flags"] == ["too_few_weigh_in_days"]
    assert out.iloc[0]["weigh_in_count"] == 7
    assert out.iloc[1]["status"] == "insufficient_data"
    assert out.iloc[1]["weigh_in_count"] == 0


# --------------------------------------------------------------------------- flags


def test_faster_than_recommended_loss() -> None:
    days = list(range(W - 7, W + 7))
    row = one(weigh_ins(1, days, [90.0 - 0.2 * i for i in range(14)]))
    # −1.4 kg/week at a trend of 87.4 kg = −1.60 %/week > 1 %
    assert row["trend_weight_kg"] == pytest.approx(87.4, abs=1e-9)
    assert row["rate_pct_bw_per_week"] == pytest.approx(-140 / 87.4, abs=1e-9)
    assert "faster_than_recommended" in row["flags"]
    assert "stable" not in row["flags"]


@pytest.mark.parametrize(("per_day", "flagged"), [(0.07, True), (0.05, False)])
def test_faster_than_recommended_gain(per_day: float, flagged: bool) -> None:
    days = list(range(W - 7, W + 7))
    row = one(weigh_ins(1, days, [80.0 + per_day * i for i in range(14)]))
    # 0.49 kg/week / 80.91 kg = 0.61 % > 0.5 %; 0.35 / 80.65 = 0.43 % is fine
    assert ("faster_than_recommended" in row["flags"]) is flagged


def test_stable_when_interval_contains_zero() -> None:
    flat = [80.0, 80.4, 79.8, 80.2, 79.9, 80.3, 80.0, 80.1, 79.7, 80.2, 80.0, 79.9, 80.3, 80.0]
    _, _, low, high = theil_sen(list(range(14)), flat)
    assert low < 0 < high
    row = one(weigh_ins(1, list(range(W - 7, W + 7)), flat))
    assert row["status"] == "ok"
    assert row["rate_kg_per_week"] == 0.0
    assert "stable" in row["flags"]
    assert "faster_than_recommended" not in row["flags"]


def test_bmi_floor_clamps_projections_and_flags() -> None:
    floor = 18.5 * 1.5**2  # 41.625 kg at 150 cm
    days = list(range(W - 7, W + 7))
    series = [43.0 - 0.02 * i for i in range(14)]  # trend 42.74, −0.14 kg/week
    prof = profile(sex="female", birth=dt.date(1990, 1, 1), height=150.0)
    row = one(weigh_ins(1, days, series), prof)
    assert row["trend_weight_kg"] == pytest.approx(42.74, abs=1e-9)
    # 4 weeks: 42.74 − 0.02·τ(1 − e^{−28/τ}) ≈ 42.2 stays; 12 weeks ≈ 41.2 is clamped
    f84 = row["tau_days"] * (1 - math.exp(-84 / row["tau_days"]))
    assert 42.74 - 0.02 * f84 < floor
    values = [row[c] for c in PREDICTION_COLUMNS[8:-1]]
    assert min(values) == pytest.approx(floor, abs=1e-12)
    assert row["projected_12w_kg"] == pytest.approx(floor, abs=1e-12)
    assert row["projected_4w_kg_high"] > floor  # unclamped values stay as computed
    assert "bmi_floor" in row["flags"]
    assert "bmi_floor_unknown" not in row["flags"]
    # height unknown: no floor (flag bmi_floor_unknown), no clamp, projections go below 41.6
    free = one(weigh_ins(1, days, series), profile(sex="female", birth=dt.date(1990, 1, 1)))
    assert free["tau_days"] == 400.0
    f84 = 400 * (1 - math.exp(-84 / 400))
    assert free["projected_12w_kg"] == pytest.approx(42.74 - 0.02 * f84, abs=1e-9)
    assert free["projected_12w_kg"] < floor
    assert free["flags"] == ["bmi_floor_unknown", "tau_default"]


def test_bmi_floor_unknown_only_with_a_projection() -> None:
    days = list(range(W - 7, W + 7))
    profiles = [
        profile(1, "male", dt.date(1986, 1, 1)),  # no height
        profile(2, "male", dt.date(1986, 1, 1), 0.0),  # height 0: unusable
        profile(3, "male", dt.date(1986, 1, 1), 180.0),
        profile(4, "male", dt.date(1986, 1, 1)),  # no height, insufficient data
    ]
    wi = pd.concat(
        [weigh_ins(uid, days, VECTOR) for uid in (1, 2, 3)] + [weigh_ins(4, days[:5])],
        ignore_index=True,
    )
    out = predict(wi, profiles).set_index("user_id")
    assert out.loc[1, "flags"] == ["bmi_floor_unknown", "tau_default"]
    assert out.loc[2, "flags"] == ["bmi_floor_unknown", "tau_default"]
    assert out.loc[3, "flags"] == []
    assert out.loc[4, "flags"] == [  # W−7 … W−3: no projection, so no floor flag either
        "too_few_weigh_in_days",
        "span_under_13_days",
        "no_weigh_in_this_week",
        "latest_weigh_in_stale",
    ]


def test_many_users_at_once_match_single_user_runs() -> None:
    rng = np.random.default_rng(3)
    frames, profiles = [], []
    for uid in range(1, 41):
        days = sorted(
            rng.choice(
                np.arange(W - 21, W + 7), size=int(rng.integers(3, 28)), replace=False
            ).tolist()
        )
        frames.append(weigh_ins(uid, days, list(np.round(85 + rng.normal(0, 1, len(days)), 1))))
        profiles.append(profile(uid, "male" if uid % 2 else None, dt.date(1980, 5, 5), 175.0))
    together = predict(pd.concat(frames), profiles)
    for i, uid in enumerate(range(1, 41)):
        alone = predict(frames[i], [profiles[i]]).iloc[0]
        got = together.iloc[i]
        assert got["user_id"] == uid
        assert got["flags"] == alone["flags"]
        for col in PREDICTION_COLUMNS[3:-1]:
            assert got[col] == pytest.approx(alone[col], nan_ok=True), col
    assert (together["status"] == "ok").any() and (together["status"] != "ok").any()
