"""``report_markdown``: a markdown rendering of one weekly report for Dagster metadata previews."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from fitness_jobs.core.report.text import format_sets, format_weeks, summary_text


def report_markdown(row: Mapping[str, Any] | pd.Series) -> str:
    """A markdown rendering of one report row (or of a report dict) for metadata previews."""
    report = row.get("report", row)
    if not isinstance(report, Mapping):
        report = dict(report)

    def val(v: Any, fmt: str = "", suffix: str = "") -> str:
        if v is None:
            return "n/a"
        return f"{format(v, fmt)}{suffix}"

    lines = [
        f"# Weekly report, week of {report.get('week_start')} ({report.get('timezone')})",
        "",
        str(report.get("summary_text") or summary_text(report)),
        "",
        "| Metric | Value |",
        "|---|---|",
        f"| Sessions | {report.get('sessions')} / target {report.get('session_target')} |",
        f"| Completion rate | {val(_pct(report.get('completion_rate')), '.0f', '%')} |",
        f"| Volume load | {val(report.get('volume_load_kg'), ',.0f', ' kg')} "
        f"(vs last week {val(report.get('volume_change_pct_prev_week'), '+.1f', '%')}, "
        f"vs 4-week avg {val(report.get('volume_change_pct_4w_avg'), '+.1f', '%')}) |",
        f"| sRPE load | {val(report.get('srpe_load'), ',.0f')} |",
        f"| CTL / TSB | {val(report.get('ctl'), '.1f')} / {val(report.get('tsb'), '.1f')} |",
        f"| ACWR | {val(report.get('acwr'), '.2f')}"
        f"{' (spike)' if report.get('acwr_flag') == 'spike' else ''} |",
        f"| Monotony | {val(report.get('monotony'), '.2f')} |",
        f"| Streak | {format_weeks(int(report.get('streak_weeks') or 0))} |",
        f"| Lapse risk | {_lapse(report)} |",
        f"| Trend weight | {val(report.get('trend_weight_kg'), '.1f', ' kg')} "
        f"({val(report.get('weight_change_kg_per_week'), '+.2f', ' kg/week')}) |",
    ]
    hard = report.get("hard_sets") or []
    if hard:
        lines += [
            "",
            "## Hard sets per muscle group",
            "",
            "| Muscle group | Hard sets | Band |",
            "|---|---|---|",
        ]
        lines += [
            f"| {h['muscle_group']} | {format_sets(h['hard_sets'])} | {h['band']} |" for h in hard
        ]
    top = report.get("top_lifts") or []
    if top:
        lines += [
            "",
            "## Top lifts",
            "",
            "| Exercise | e1RM | Best set | Date | Note |",
            "|---|---|---|---|---|",
        ]
        for t in top:
            note = "PR" if t["personal_record"] else ("first time" if t["first_time"] else "")
            lines.append(
                f"| {t['exercise']} | {t['e1rm_kg']:.1f} kg | {t['weight_kg']:g} kg × {t['reps']} "
                f"| {t['date']} | {note} |"
            )
    daily = report.get("daily_loads") or []
    if daily:
        lines += ["", "## Daily load", "", "| Date | Sessions | sRPE load |", "|---|---|---|"]
        lines += [
            f"| {d['date']} | {d['sessions']} | {val(d['srpe_load'], ',.0f')} |" for d in daily
        ]
    prediction = report.get("prediction")
    if prediction:
        lines += ["", "## Transformation prediction", ""]
        lines.append(
            f"Status **{prediction.get('status')}** ({prediction.get('weigh_in_count')} weigh-ins, "
            f"method {prediction.get('method')})."
        )
        if prediction.get("status") == "ok":
            lines += ["", "| Horizon | Projected | Band |", "|---|---|---|"]
            for h in ("4w", "8w", "12w"):
                lines.append(
                    f"| {h} | {val(prediction.get(f'projected_{h}_kg'), '.1f', ' kg')} | "
                    f"{val(prediction.get(f'projected_{h}_kg_low'), '.1f')} to "
                    f"{val(prediction.get(f'projected_{h}_kg_high'), '.1f', ' kg')} |"
                )
            lines.append("")
            lines.append(f"τ = {val(prediction.get('tau_days'), '.0f')} days.")
        flags = prediction.get("flags") or []
        if flags:
            lines.append(f"Flags: {', '.join(flags)}.")
    return "\n".join(lines) + "\n"


def _pct(fraction: float | None) -> float | None:
    return None if fraction is None else 100.0 * fraction


def _lapse(report: Mapping[str, Any]) -> str:
    band = report.get("lapse_risk")
    if band is not None:
        return str(band)
    return "none (no session yet)" if report.get("has_logged_session") is False else "n/a"
