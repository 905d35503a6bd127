"""Writing a suite run: ``latest.json``, ``latest.md`` (a table, ratios, the profile's top
costs) and ``seconds_vs_users.png`` (ours, the per-user baseline and the I/O floor)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}×" if a and b else "–"


def markdown(results: dict[str, Any]) -> str:
    lines = [
        "# Benchmark results",
        "",
        f"Measured {results['machine']['when']} on {results['machine']['cores']} cores, "
        "PostgreSQL on loopback, one run (`python -m benchmarks.suite`). Ratios are the "
        "numbers to compare; absolute times move with the machine's load.",
        "",
        "| job | users | seconds | peak RSS MB | baseline s | floor s | ours / floor | baseline / ours |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results["records"]:
        lines.append(
            f"| {r['job']} | {r['users']:,} | {r['seconds']:.1f} | {r['peak_rss_mb']:.0f} | "
            f"{r['baseline_seconds'] or '–'} | {r['floor_seconds'] or '–'} | "
            f"{_ratio(r['seconds'], r['floor_seconds'])} | "
            f"{_ratio(r['baseline_seconds'], r['seconds'])} |"
        )
    nightly = sorted(
        (r for r in results["records"] if r["job"] == "nightly"), key=lambda r: r["users"]
    )
    if len(nightly) >= 2:
        small, large = nightly[-2], nightly[-1]
        lines += [
            "",
            f"Scaling, nightly {small['users']:,} → {large['users']:,} users: "
            f"{large['seconds'] / small['seconds']:.1f}× the time for "
            f"{large['users'] / small['users']:.0f}× the users.",
        ]
    lines += _backfill_and_fanout(results)
    for users, detail in results["details"].items():
        base = detail.get("baseline", {})
        if base:
            lines += [
                "",
                f"Baseline at {int(users):,} users: {base['per_user_ms']:.1f} ms per user "
                f"({'sampled ' + str(base['processed_users']) + ' users, extrapolated' if base['sampled'] else 'every active user'}); "
                f"database round trips {base['database_seconds']:.1f} s, computation "
                f"{base['compute_seconds']:.1f} s.",
            ]
        weekly = detail.get("weekly", {})
        if weekly.get("earlier_weeks"):
            runs = ", ".join(f"{w['week']} {w['seconds']:.1f} s" for w in weekly["earlier_weeks"])
            lines += [
                "",
                f"Weekly at {int(users):,} users: the weeks before were run first ({runs}; "
                "the first with no personal bests kept, so it read every earlier set), "
                f"then the measured week, {weekly['seconds']:.1f} s.",
            ]
        floor = weekly.get("floor")
        if floor:
            lines += [
                "",
                f"Weekly I/O floor at {int(users):,} users: the measured run's "
                f"{floor['read_statements']} reads replayed in two streams "
                f"{floor['read_seconds']:.1f} s, its reports and predictions copied "
                f"{floor['write_seconds']:.1f} s; {floor['seconds']:.1f} s in all "
                f"(ours {_ratio(weekly['seconds'], floor['seconds'])} of it).",
            ]
        profile = detail.get("profile")
        if profile:
            lines += [
                "",
                f"## Where the time goes at {int(users):,} users (pyinstrument, self time)",
                "",
            ]
            lines += ["| function | s |", "|---|---:|"]
            lines += [f"| `{name}` | {s} |" for name, s in profile["top_self_seconds"]]
    return "\n".join(lines) + "\n"


def _backfill_and_fanout(results: dict[str, Any]) -> list[str]:
    """The backfill and fan-out records: what each compares, and the speedups."""
    backfills = [r for r in results["records"] if r["job"].startswith("nightly_backfill_")]
    fanouts = [r for r in results["records"] if r["job"].startswith("nightly_fanout_")]
    if not backfills and not fanouts:
        return []
    lines = [
        "",
        "## Backfills and fan-out",
        "",
        "| job | users | ours s | baseline s | baseline / ours | what the baseline is | notes |",
        "|---|---:|---:|---:|---:|---|---|",
    ]
    for r in backfills:
        d = results["details"][str(r["users"])]["backfill"]
        sampled = d["baseline_sampled_partitions"]
        base = (
            f"one run per partition ({sampled} of {d['partitions']} run, ×{d['partitions']}/{sampled})"
            if sampled
            else f"one run per partition ({d['partitions']} runs)"
        )
        same = {True: "yes", False: "**NO**", None: "not checked"}[d["identical_rows"]]
        lines.append(
            f"| {r['job']} | {r['users']:,} | {r['seconds']:.1f} | {r['baseline_seconds']:.1f} | "
            f"{_ratio(r['baseline_seconds'], r['seconds'])} | {base} | "
            f"{d['first_partition']} … {d['last_partition']}; identical rows: {same} |"
        )
    for r in fanouts:
        d = results["details"][str(r["users"])]["fanout"]
        two = d["2w"]
        lines.append(
            f"| {r['job']} | {r['users']:,} | {r['seconds']:.1f} | {r['baseline_seconds']:.1f} | "
            f"{_ratio(r['baseline_seconds'], r['seconds'])} | the same run with 1 worker | "
            f"{d['steps_2w']} steps; step process start-up up to "
            f"{max(two['step_process_startup'].values(), default=0):.1f} s; "
            f"rows changed {d['1w']['rows_changed']}/{two['rows_changed']} (1w/2w) |"
        )
    lines += [
        "",
        "- `nightly_backfill_<N>d`: *ours* is one Dagster run covering the N nightly partitions "
        "ending at the suite's partition (run tags `dagster/asset_partition_range_start`/`_end`, "
        "as a backfill with the job's multi-run policy launches it); the *baseline* of a "
        "backfill is one Dagster run per partition (`execute_in_process`, one after the other "
        "in one process). Both start from the range's rows deleted; the singles run first, "
        "their rows (every column but `computed_at`) are kept and compared value by value "
        "with the range's (`identical rows`). When the singles are sampled, their time is "
        "extrapolated and the rows are not compared.",
        "- `nightly_fanout_2w`: one partition through `dg.execute_job` with the multiprocess "
        "executor (`FITNESS_EXECUTOR=multiprocess`); *ours* is `FITNESS_MAX_WORKERS=2`, the "
        "*baseline* the same with 1 (run first). Both re-write a partition already written, so "
        "they change no rows but do all the work; each step process pays Python's and the "
        "definitions' start-up.",
        "- No I/O floor for either (`floor_seconds` is null).",
    ]
    return lines


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    nightly = sorted(
        (r for r in results["records"] if r["job"] == "nightly"), key=lambda r: r["users"]
    )
    users = [r["users"] for r in nightly]
    fig, ax = plt.subplots(figsize=(6, 4))
    for key, label in (
        ("seconds", "ours (Dagster, end to end)"),
        ("baseline_seconds", "per-user baseline"),
        ("floor_seconds", "I/O floor (COPY)"),
    ):
        ax.plot(users, [r[key] for r in nightly], marker="o", label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("users")
    ax.set_ylabel("seconds, one nightly partition")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_results(results: dict[str, Any], out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "latest.json", out / "latest.md", out / "seconds_vs_users.png"]
    paths[0].write_text(json.dumps(results, indent=2, default=str) + "\n")
    paths[1].write_text(markdown(results))
    plot(results, paths[2])
    return paths
