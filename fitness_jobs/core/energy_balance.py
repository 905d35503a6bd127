"""The linearised Hall (2011) energy-balance time constant τ, and its inputs.

``α = 10.4/FM`` (Forbes), ``ε = (γF + α·γL)/(1 + α) + δ``,
``ρ = (ρF + ηF + α(ρL + ηL))/(1 + α)``, ``τ = ρ/ε`` with
``δ = ((1 − βTEF)·PAL − 1)·RMR/BW``; RMR by Mifflin–St Jeor (1990) and fat mass from BMI
by Jackson et al. (2002).  See docs/design.md §7.3.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

DEFAULT_TAU_DAYS = 400.0

# Hall (2011) constants
RHO_F = 9440.7  # kcal/kg, energy density of fat
RHO_L = 1816.4  # kcal/kg, energy density of lean tissue
ETA_F = 179.3  # kcal/kg, deposition cost of fat
ETA_L = 229.4  # kcal/kg, deposition cost of lean tissue
GAMMA_F = 3.107  # kcal/kg/day, fat maintenance
GAMMA_L = 21.99  # kcal/kg/day, lean maintenance
BETA_TEF = 0.10
PAL = 1.6
FORBES_C = 10.4  # kg, Forbes' constant: α = 10.4 / FM


# --------------------------------------------------------------------------- Hall τ


def jackson_percent_fat(male: np.ndarray, age_years: np.ndarray, bmi: np.ndarray) -> np.ndarray:
    """Body fat % from BMI (Jackson et al. 2002): men ``0.14·age + 37.31·ln BMI − 103.94``,
    women ``0.14·age + 39.96·ln BMI − 102.01``."""
    age = np.asarray(age_years, dtype=float)
    with np.errstate(all="ignore"):
        ln_bmi = np.log(np.asarray(bmi, dtype=float))
        return np.where(
            male, 0.14 * age + 37.31 * ln_bmi - 103.94, 0.14 * age + 39.96 * ln_bmi - 102.01
        )


def mifflin_st_jeor_rmr(
    male: np.ndarray, weight_kg: np.ndarray, height_cm: np.ndarray, age_years: np.ndarray
) -> np.ndarray:
    """Resting metabolic rate (kcal/day), Mifflin–St Jeor (1990):
    ``10·kg + 6.25·cm − 5·age + 5`` for men, ``… − 161`` for women."""
    bw = np.asarray(weight_kg, dtype=float)
    height = np.asarray(height_cm, dtype=float)
    age = np.asarray(age_years, dtype=float)
    return 10.0 * bw + 6.25 * height - 5.0 * age + np.where(male, 5.0, -161.0)


def _hall_tau_arrays(
    sex: np.ndarray, age_years: np.ndarray, height_cm: np.ndarray, weight_kg: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``(τ, defaulted)``: vectorised ``hall_tau``; ``defaulted`` marks τ = 400 fallbacks."""
    sex_s = pd.Series(np.asarray(sex, dtype=object)).astype("string").str.strip().str.lower()
    male = (sex_s == "male").fillna(False).to_numpy(dtype=bool)
    female = (sex_s == "female").fillna(False).to_numpy(dtype=bool)
    age = np.asarray(age_years, dtype=float)
    height = np.asarray(height_cm, dtype=float)
    bw = np.asarray(weight_kg, dtype=float)
    known = (
        (male | female)
        & np.isfinite(age)
        & (age >= 0)
        & np.isfinite(height)
        & (height > 0)
        & np.isfinite(bw)
        & (bw > 0)
    )
    with np.errstate(all="ignore"):
        bmi = bw / (height / 100.0) ** 2
        fm = bw * jackson_percent_fat(male, age, bmi) / 100.0
        rmr = mifflin_st_jeor_rmr(male, bw, height, age)
        a = FORBES_C / fm
        delta = ((1.0 - BETA_TEF) * PAL - 1.0) * rmr / bw
        eps = (GAMMA_F + a * GAMMA_L) / (1.0 + a) + delta
        rho = (RHO_F + ETA_F + a * (RHO_L + ETA_L)) / (1.0 + a)
        tau = rho / eps
    valid = known & (fm > 0) & (fm < bw) & (eps > 0) & np.isfinite(tau) & (tau > 0)
    return np.where(valid, tau, DEFAULT_TAU_DAYS), ~valid


def hall_tau_array(
    sex: np.ndarray, age_years: np.ndarray, height_cm: np.ndarray, weight_kg: np.ndarray
) -> np.ndarray:
    """Vectorised ``hall_tau`` over aligned arrays (``sex`` as objects, None allowed)."""
    return _hall_tau_arrays(sex, age_years, height_cm, weight_kg)[0]


def hall_tau(
    sex: str | None, age_years: float | None, height_cm: float | None, weight_kg: float
) -> float:
    """Time constant τ (days) of the linearised Hall (2011) energy-balance model.

    ``α = 10.4/FM``, ``ε = (γF + α·γL)/(1 + α) + δ``, ``ρ = (ρF + ηF + α(ρL + ηL))/(1 + α)``,
    ``τ = ρ/ε`` with ``δ = ((1 − βTEF)·PAL − 1)·RMR/BW``, RMR by Mifflin–St Jeor (men +5,
    women −161) and fat mass from BMI by Jackson et al. (2002).  τ = 400 when sex, age or
    height is missing, and when the inputs fall outside the model's domain (fat mass not in
    ``(0, BW)`` or ``ε ≤ 0``).
    """
    tau = hall_tau_array(
        np.array([sex], dtype=object),
        np.array([np.nan if age_years is None else age_years], dtype=float),
        np.array([np.nan if height_cm is None else height_cm], dtype=float),
        np.array([weight_kg], dtype=float),
    )
    return float(tau[0])
