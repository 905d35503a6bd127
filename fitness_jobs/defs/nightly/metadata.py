"""Metadata of the nightly assets: counts, timings, failures and a markdown preview of
distributions (never a person's values)."""

import json
from typing import Any

import dagster as dg

from fitness_jobs.core.metrics import METRICS_VERSION
from fitness_jobs.defs.common import failure_metadata, phase_metadata
from fitness_jobs.pipelines.nightly import NightlyDay, NightlyReport

LAPSE_BANDS = ("on_track", "slipping", "at_risk", "lapsed")


def _preview(
    heading: str, lapse_risk: dict[str, int], metrics_dates: dict[str, int], note: str = ""
) -> str:
    lines = [heading, "", "Lapse risk | users", "--- | ---"]
    lines += [f"{band} | {lapse_risk.get(band, 0)}" for band in LAPSE_BANDS]
    lines += ["", "Local metrics date | users", "--- | ---"]
    lines += [f"{day} | {n}" for day, n in sorted(metrics_dates.items())]
    return "\n".join(lines + (["", note] if note else []))


def _day_heading(day: NightlyDay) -> str:
    return (
        f"**Partition {day.partition}** · snapshot `{day.as_of.isoformat()}` · "
        f"{day.active_users} active · {day.written} written · {day.failed} failed"
    )


def day_rows(report: NightlyReport) -> list[dict[str, Any]]:
    """Each day's counts (the ``days`` metadata of a range run; the CLI prints them)."""
    return [
        {
            "partition": d.partition.isoformat(),
            "active_users": d.active_users,
            "written": d.written,
            "changed": d.changed,
            "failed": d.failed,
            "superseded": d.superseded,
            "coach_users_with_usage": d.coach_users_with_usage,
        }
        for d in report.days
    ]


def nightly_metadata(report: NightlyReport) -> dict[str, Any]:
    """The run's metadata; for a range, the totals over its days (user-days) and each
    day's counts under ``days`` (each partition's own values: :func:`day_metadata`)."""
    metadata: dict[str, Any] = {
        "dagster/row_count": report.written,
        "snapshot_at": dg.MetadataValue.timestamp(report.as_of),
        "metrics_version": METRICS_VERSION,
        "limit": report.limit if report.limit is not None else "none",
        "active_users": report.active_users,
        "written_users": report.written,
        "rows_changed": report.changed,
        **failure_metadata(report),
        "excluded_rows": dg.MetadataValue.json(dict(report.excluded_rows)),
        "timezone_null_fallback": report.timezones.get("null_fallback_utc", 0),
        "timezone_case_normalized": report.timezones.get("case_normalized", 0),
        "timezone_invalid": report.timezones.get("invalid", 0),
        "metrics_dates": dg.MetadataValue.json(report.metrics_dates),
        **phase_metadata(report),
        "coach_users_with_usage": report.coach_users_with_usage,
    }
    if not report.is_range:
        (day,) = report.days
        metadata["preview"] = dg.MetadataValue.md(
            _preview(_day_heading(day), report.lapse_risk, report.metrics_dates)
        )
        return metadata
    metadata.update(
        {
            "partition_range": f"{report.partition}...{report.last_partition}",
            "partitions": len(report.days),
            "days": dg.MetadataValue.json(day_rows(report)),
            "preview": dg.MetadataValue.md(
                _preview(
                    f"**Partitions {report.partition} … {report.last_partition}** "
                    f"({len(report.days)} days) · {report.active_users} active user-days · "
                    f"{report.written} written · {len(report.failed)} users failed",
                    report.lapse_risk,
                    report.metrics_dates,
                )
            ),
        }
    )
    return metadata


def day_metadata(report: NightlyReport, day: NightlyDay) -> dict[str, Any]:
    """What a range run records on one partition's materialisation, over the range's
    metadata: that day's snapshot, counts and preview.  ``failed_users`` and the failure
    lists stay the range's (the blocking check judges the whole run)."""
    return {
        "dagster/row_count": day.written,
        "snapshot_at": dg.MetadataValue.timestamp(day.as_of),
        "active_users": day.active_users,
        "written_users": day.written,
        "rows_changed": day.changed,
        "partition_failed_users": day.failed,
        "metrics_dates": dg.MetadataValue.json(day.metrics_dates),
        "coach_users_with_usage": day.coach_users_with_usage,
        "preview": dg.MetadataValue.md(
            _preview(
                _day_heading(day),
                day.lapse_risk,
                day.metrics_dates,
                note=f"One of the {len(report.days)} days of a range run "
                f"({report.partition} … {report.last_partition}); `days` has each day's counts.",
            )
        ),
    }


def usage_summary(row: dict[str, object]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k not in ("usage_date", "computed_at")}


def usage_metadata(summary: dict[str, Any]) -> dict[str, Any]:
    """One UTC day's ``coach_usage_daily`` row as metadata."""
    return {
        "dagster/row_count": 1,
        **{k: (v if v is not None else "none") for k, v in summary.items()},
        "summary": dg.MetadataValue.json(json.loads(json.dumps(summary))),
    }
