"""The alert payload, built from plain values (no Dagster, no I/O) so it is easy to test.

The payload carries the job, partition, run id, a link to the run, failed-user counts by
error code, the distinct failure messages with their counts, and, when the run failed for
another reason than failed users, the failure's description. Never user ids, e-mails,
per-user values, URLs with credentials or the webhook's own URL: every free text is
passed through :func:`scrub`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

DEFAULT_UI_BASE_URL = "http://127.0.0.1:3000"
MAX_FAILURES = 20  # distinct (code, message) entries listed; the rest are counted
MAX_TEXT_CHARS = 300

_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://\S+")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_DECIMAL = re.compile(r"(?<![\w.])-?\d+\.\d+(?:[eE][-+]?\d+)?(?![\w.])")
# A database's DETAIL (PostgreSQL: "Failing row contains (...)") quotes row values.
_ROW_DETAIL = re.compile(r"(DETAIL:|Failing row contains|\[parameters:|\[SQL:).*", re.DOTALL)


def scrub(text: str, limit: int = MAX_TEXT_CHARS) -> str:
    """One line of free text without row values: URLs, e-mail addresses and decimal numbers
    (a weight, a trend) are replaced; a database's row detail is dropped; at most ``limit``
    characters."""
    text = _ROW_DETAIL.sub("", text)
    text = _URL.sub("<url>", text)
    text = _EMAIL.sub("<email>", text)
    text = _DECIMAL.sub("<number>", text)
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def merge_failures(reports: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Sum the failure metadata (``failed_users``, ``failure_codes``, ``failures``) of the
    assets of one run: one entry per asset, each the latest that asset reported."""
    failed_users = 0
    codes: Counter[str] = Counter()
    messages: Counter[tuple[str, str]] = Counter()
    for report in reports:
        failed_users += int(report.get("failed_users") or 0)
        codes.update({str(k): int(v) for k, v in dict(report.get("failure_codes") or {}).items()})
        for failure in report.get("failures") or []:
            key = (str(failure.get("code", "")), scrub(str(failure.get("message", ""))))
            messages[key] += int(failure.get("users") or 0)
    ordered = sorted(messages.items(), key=lambda item: (-item[1], item[0]))
    return {
        "failed_users": failed_users,
        "failure_codes": dict(sorted(codes.items())),
        "failures": [
            {"code": code, "message": message, "users": users}
            for (code, message), users in ordered[:MAX_FAILURES]
        ],
        "failures_omitted": max(0, len(ordered) - MAX_FAILURES),
    }


def run_url(run_id: str, base_url: str | None) -> str:
    return f"{(base_url or DEFAULT_UI_BASE_URL).rstrip('/')}/runs/{run_id}"


def build_payload(
    *,
    job: str,
    partition: str | None,
    run_id: str,
    ui_base_url: str | None,
    reports: Iterable[Mapping[str, Any]],
    failure_description: str | None,
) -> dict[str, Any]:
    """The JSON document POSTed to the webhook."""
    return {
        "event": "run_failure",
        "job": job,
        "partition": partition,
        "run_id": run_id,
        "run_url": run_url(run_id, ui_base_url),
        **merge_failures(reports),
        "failure_description": scrub(failure_description) if failure_description else None,
    }


def slack_text(payload: Mapping[str, Any]) -> str:
    """A short Slack message from the payload."""
    where = f" {payload['partition']}" if payload.get("partition") else ""
    parts = [f":rotating_light: *{payload['job']}*{where} failed"]
    if payload.get("failed_users"):
        codes = ", ".join(f"{code} ×{n}" for code, n in payload["failure_codes"].items())
        parts.append(f"{payload['failed_users']} failed user(s): {codes}")
    if payload.get("failure_description"):
        parts.append(str(payload["failure_description"]))
    return " · ".join(parts) + f"\n<{payload['run_url']}|run {payload['run_id'][:8]}>"
