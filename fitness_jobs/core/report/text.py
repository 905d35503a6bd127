"""``summary_text``: the short paragraph a person reads at the top of their weekly report.

Built from the report dict alone (version 2 keys; a version-1 dict without
``previous_streak_weeks``/``has_logged_session`` reads as "no streak ended, has trained").
The first sentence is about sessions and the streak:

* no session ever (``has_logged_session`` false): "You have not logged a session yet. …";
* ``W`` met ``T``: "…, a N-week streak." (N ≥ 2) or "…, target met.";
* ``W`` missed ``T``: "…, one session short." and, when a streak of ≥ 2 weeks ended with
  ``W − 1``, "…, so your N-week streak ended." — never the old count as if it went on.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fitness_jobs.core.report.common import HIGH_MONOTONY
from fitness_jobs.core.targets import DEFAULT_WEEKLY_TARGET


def _minus(value: float, fmt: str) -> str:
    """Signed number with a typographic minus (``−0.4``) and an explicit ``+``."""
    text = format(abs(value), fmt)
    if float(text) == 0:
        return text
    return ("−" if value < 0 else "+") + text


def format_sets(value: float) -> str:
    return f"{value:g}"


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def format_weeks(n: int) -> str:
    return "1 week" if n == 1 else f"{n} weeks"


def _ended(previous: int) -> str:
    """The clause for a streak that week W has just broken (named from 2 weeks on)."""
    return f", so your {previous}-week streak ended" if previous >= 2 else ""


def _sessions_sentence(report: Mapping[str, Any]) -> str:
    n = int(report.get("sessions") or 0)
    target = int(report.get("session_target") or DEFAULT_WEEKLY_TARGET)
    streak = int(report.get("streak_weeks") or 0)
    previous = int(report.get("previous_streak_weeks") or 0)
    if report.get("has_logged_session") is False:
        plural = "session" if target == 1 else "sessions"
        return (
            f"You have not logged a session yet. Your target is {target} {plural} a week, "
            "and one short session in the week ahead is a great way to start."
        )
    if n == 0:
        return (
            f"No sessions were logged this week (target {target}){_ended(previous)}. "
            "That's okay: rest weeks happen, and one short session in the week ahead is a "
            "great way back in."
        )
    times = "once" if n == 1 else ("twice" if n == 2 else f"{n} times")
    text = f"You trained {times} this week (target {target})"
    if n >= target and streak >= 2:
        return text + f", a {streak}-week streak."
    if n >= target:
        return text + ", target met."
    short = target - n
    return (
        text + f", {'one session' if short == 1 else f'{short} sessions'} short{_ended(previous)}."
    )


def summary_text(report: Mapping[str, Any]) -> str:
    """A short, specific paragraph built from a report dict (no names, no email)."""
    parts: list[str] = [_sessions_sentence(report)]

    volume = report.get("volume_load_kg") or 0.0
    if volume > 0:
        change = report.get("volume_change_pct_prev_week")
        if change is None:
            text = f"Volume load was {volume:,.0f} kg"
        elif round(change) == 0:
            text = f"Volume held steady at {volume:,.0f} kg"
        elif change > 0:
            text = f"Volume rose {change:.0f}% to {volume:,.0f} kg"
        else:
            text = f"Volume fell {abs(change):.0f}% to {volume:,.0f} kg"
        hard = list(report.get("hard_sets") or [])
        clauses: list[str] = []
        recommended = [h for h in hard if h["band"] == "recommended"][:2]
        high = [h for h in hard if h["band"] == "high"][:1]
        low = sorted((h for h in hard if h["band"] == "low"), key=lambda h: h["hard_sets"])[:2]
        if len(recommended) == 1:
            h = recommended[0]
            clauses.append(
                f"{h['muscle_group']} hit the recommended {format_sets(h['hard_sets'])} hard sets"
            )
        elif recommended:
            names = _join([h["muscle_group"] for h in recommended])
            counts = _join([format_sets(h["hard_sets"]) for h in recommended])
            clauses.append(f"{names} hit the recommended range ({counts} hard sets)")
        clauses += [
            f"{h['muscle_group']} went above 20 hard sets ({format_sets(h['hard_sets'])})"
            for h in high
        ]
        clauses += [
            f"{h['muscle_group']} got just {format_sets(h['hard_sets'])} hard "
            f"set{'s' if h['hard_sets'] != 1 else ''}"
            for h in low
        ]
        parts.append(text + ("; " + _join(clauses) if clauses else "") + ".")

    records = list(report.get("personal_records") or [])
    if records:
        records.sort(key=lambda p: -(p["e1rm_kg"] or 0.0))
        shown = [f"{p['exercise']} e1RM {p['e1rm_kg']:.1f} kg" for p in records[:3]]
        label = "New best" if len(records) == 1 else "New bests"
        parts.append(f"{label}: {_join(shown)}.")
    else:
        firsts = [t for t in report.get("top_lifts") or [] if t.get("first_time")]
        if firsts:
            shown = [f"{t['exercise']} e1RM {t['e1rm_kg']:.1f} kg" for t in firsts[:2]]
            parts.append(f"First logged: {_join(shown)}, a baseline to beat.")

    if report.get("acwr_flag") == "spike" and report.get("acwr") is not None:
        parts.append(
            f"Your load jumped this week (ACWR {report['acwr']:.2f}); an easier day or two "
            "will help you absorb it."
        )
    monotony = report.get("monotony")
    if monotony is not None and monotony > HIGH_MONOTONY:
        parts.append(
            f"Your days were very alike in load (monotony {monotony:.1f}); mixing harder and "
            "easier days helps recovery."
        )

    prediction = report.get("prediction") or None
    if prediction is not None:
        flags = prediction.get("flags") or []
        trend = prediction.get("trend_weight_kg")
        rate = prediction.get("rate_kg_per_week")
        if prediction.get("status") == "ok" and trend is not None and rate is not None:
            if "stable" in flags:
                text = (
                    f"Trend weight {trend:.1f} kg, holding steady ({_minus(rate, '.1f')} kg/week)."
                )
            else:
                text = f"Trend weight {trend:.1f} kg, {_minus(rate, '.1f')} kg/week"
                p4 = prediction.get("projected_4w_kg")
                if p4 is not None:
                    text += f"; at this pace about {p4:.1f} kg in 4 weeks"
                    if "bmi_floor" in flags:
                        text += " (projections stop at a healthy BMI of 18.5)"
                text += "."
            if "faster_than_recommended" in flags:
                if rate < 0:
                    text += " That is faster than the recommended pace of at most 1% of body weight a week."
                else:
                    text += " That is faster than the recommended gain of at most 0.5% of body weight a week."
            parts.append(text)
        elif (prediction.get("weigh_in_count") or 0) > 0:
            parts.append(
                "Weigh in on at least 8 days across this week and last to unlock your trend "
                "weight and projection."
            )
    return " ".join(parts)
