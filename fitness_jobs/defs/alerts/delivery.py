"""Delivering an alert: a JSON POST to the webhook, and a short Slack message.

Both read their configuration from the environment when called (never from run config);
neither ever logs or returns the webhook URL or the token.  A failure returns a short
reason (exception class, HTTP status) instead of raising.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

from dagster_slack import SlackResource
from slack_sdk.errors import SlackApiError

WEBHOOK_URL_ENV = "FITNESS_ALERT_WEBHOOK_URL"
UI_BASE_URL_ENV = "FITNESS_UI_BASE_URL"
SLACK_TOKEN_ENV = "FITNESS_SLACK_TOKEN"
SLACK_CHANNEL_ENV = "FITNESS_SLACK_CHANNEL"

TIMEOUT_S = 5.0
ATTEMPTS = 2  # one retry, after RETRY_DELAY_S, unless the receiver answered 4xx
RETRY_DELAY_S = 1.0


def webhook_url() -> str | None:
    return os.environ.get(WEBHOOK_URL_ENV, "").strip() or None


def ui_base_url() -> str | None:
    return os.environ.get(UI_BASE_URL_ENV, "").strip() or None


def slack_settings() -> tuple[str, str] | None:
    """(token, channel) when both are set."""
    token = os.environ.get(SLACK_TOKEN_ENV, "").strip()
    channel = os.environ.get(SLACK_CHANNEL_ENV, "").strip()
    return (token, channel) if token and channel else None


def post_json(url: str, payload: Mapping[str, Any]) -> str | None:
    """POST ``payload``; None on a 2xx answer, else why not (without the URL)."""
    if not url.lower().startswith(("http://", "https://")):
        return f"{WEBHOOK_URL_ENV} is not an http(s) URL"
    body = json.dumps(payload, sort_keys=True).encode()
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": "fitness-jobs-alerts"},
    )
    reason = "not attempted"
    for attempt in range(1, ATTEMPTS + 1):
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
                response.read()
            return None
        except urllib.error.HTTPError as exc:
            reason = f"HTTP {exc.code}"
            if exc.code < 500:
                return reason
        except (urllib.error.URLError, OSError) as exc:
            cause = getattr(exc, "reason", None)
            reason = type(cause if isinstance(cause, BaseException) else exc).__name__
        if attempt < ATTEMPTS:
            time.sleep(RETRY_DELAY_S)
    return reason


def post_slack(token: str, channel: str, text: str) -> str | None:
    """Post ``text`` through dagster-slack's client; None on success, else why not."""
    try:
        client = SlackResource(token=token).get_client()
        client.timeout = int(TIMEOUT_S)
        client.chat_postMessage(channel=channel, text=text)
    except SlackApiError as exc:
        return f"SlackApiError ({exc.response.get('error')})"
    except Exception as exc:
        return type(exc).__name__
    return None
