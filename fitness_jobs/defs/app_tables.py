"""The app's own tables as external assets, so lineage starts at them."""

from __future__ import annotations

import dagster as dg

APP_GROUP = "app_database"

_DESCRIPTIONS = {
    "users": "App users: time zone, plan, trial end, weekly target, profile. Written by the app.",
    "workouts": "Workout sessions with status, start/finalize instants, duration and session RPE.",
    "workout_sets": "Sets of each workout: exercise, muscle groups, reps, weight, warm-up flag.",
    "body_weight_logs": "Weigh-ins (user, instant, kg).",
    "llm_usage_daily": "AI-coach usage per user and UTC day: requests and tokens.",
}

APP_TABLE_SPECS: dict[str, dg.AssetSpec] = {
    name: dg.AssetSpec(
        key=dg.AssetKey(["app", name]),
        description=description,
        group_name=APP_GROUP,
        kinds={"sql"},
        metadata={"table": name},
    )
    for name, description in _DESCRIPTIONS.items()
}


@dg.definitions
def app_tables() -> dg.Definitions:
    return dg.Definitions(assets=list(APP_TABLE_SPECS.values()))
