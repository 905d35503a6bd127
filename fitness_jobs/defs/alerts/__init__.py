"""Run-failure alerting: a webhook (and optionally Slack) for the monitored jobs."""
