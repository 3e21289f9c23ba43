"""The run's report: Markdown with PNG plots (drawn with Pillow, already a dependency) of latency
percentiles and throughput over time, from Locust's ``--csv-full-history`` file."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

WIDTH, HEIGHT, PAD = 900, 320, 48
PALETTE = [(66, 133, 244), (234, 67, 53), (251, 188, 5), (52, 168, 83)]
# The interactive requests the service levels name: the aggregate would be dominated by STOW uploads.
LATENCY = [("timeline", "95%"), ("preview image", "95%"), ("preview image", "99%"), ("study detail", "95%")]
THROUGHPUT = [("Aggregated", "Requests/s"), ("Aggregated", "Failures/s")]


def _series(history: Path, lines: list[tuple[str, str]]) -> tuple[list[float], dict[str, list[float]]]:
    """Per line (request name, column): its value at each of the history's timestamps (0 before the
    first request of that name)."""
    by_time: dict[float, dict[tuple[str, str], float]] = {}
    with history.open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            at = by_time.setdefault(float(row["Timestamp"]), {})
            for name, column in lines:
                raw = row.get(column, "")
                if row["Name"] == name and raw not in ("", "N/A"):
                    at[(name, column)] = float(raw)
    times = sorted(by_time)
    values = {f"{name} {column}": [by_time[t].get((name, column), 0.0) for t in times] for name, column in lines}
    start = times[0] if times else 0.0
    return [t - start for t in times], values


def fault_label(window: dict[str, Any]) -> str:
    kind = window.get("kind", "kill")
    return f"kill -9 {window['target']}" if kind == "kill" else f"{kind} {window['target']}"


def plot(*, history: Path, lines: list[tuple[str, str]], unit: str, target: Path,
         windows: list[dict[str, Any]] | None = None) -> None:
    """One line per (request name, column) over the run's seconds, fault windows shaded; a plain chart
    read at a glance."""
    times, values = _series(history, lines)
    image = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(image)
    top = max((max(v) for v in values.values() if v), default=1.0) or 1.0
    span = max(times[-1] if times else 1.0, 1.0)
    for window in windows or []:  # the fault, from the kill until the component answered again
        x0 = PAD + (WIDTH - 1.5 * PAD) * min(window["start_s"], span) / span
        x1 = PAD + (WIDTH - 1.5 * PAD) * min(window["end_s"] if window["end_s"] is not None else span, span) / span
        draw.rectangle([x0, PAD // 2, max(x1, x0 + 2), HEIGHT - PAD], fill=(255, 228, 225))
        draw.text((x0 + 2, HEIGHT - PAD - 14), fault_label(window), fill=(180, 40, 40))
    draw.rectangle([PAD, PAD // 2, WIDTH - PAD // 2, HEIGHT - PAD], outline=(160, 160, 160))
    for step in range(5):
        y = HEIGHT - PAD - (HEIGHT - 1.5 * PAD) * step / 4
        draw.line([PAD, y, WIDTH - PAD // 2, y], fill=(230, 230, 230))
        draw.text((4, y - 6), f"{top * step / 4:.0f}", fill=(80, 80, 80))
    for index, (label, series) in enumerate(values.items()):
        colour = PALETTE[index % len(PALETTE)]
        points = [(PAD + (WIDTH - 1.5 * PAD) * t / span, HEIGHT - PAD - (HEIGHT - 1.5 * PAD) * v / top)
                  for t, v in zip(times, series, strict=True)]
        if len(points) > 1:
            draw.line(points, fill=colour, width=2)
        draw.text((PAD + 10 + index * 200, 4), f"{label} ({unit})", fill=colour)
    draw.text((WIDTH // 2 - 40, HEIGHT - PAD + 16), f"seconds (0-{span:.0f})", fill=(80, 80, 80))
    image.save(target)


def client_cpu_rows(cpu: dict[str, Any]) -> list[str]:
    """The load client's own CPU (a core = 1.0): at a full core its figures are its own queueing."""
    if not cpu:
        return []
    return [f"| load client (Locust) CPU, whole run | {cpu['cpu_s']} s in {cpu['run_s']} s = "
            f"{cpu['mean_cores']} core |",
            f"| load client CPU, first {cpu['rush_s']} s (the login rush) | {cpu['rush_cpu_s']} s = "
            f"{cpu['rush_mean_cores']} core |",
            f"| load client CPU, busiest 2-s sample / time at ≥ 0.9 core | {cpu['peak_cores']} core / "
            f"{cpu['saturated_s']} s |"]


def write_report(*, out: Path, verdict: dict[str, Any], title: str) -> Path:
    history = out / "locust_stats_history.csv"
    if history.exists():
        windows = [f for f in verdict.get("faults", []) if "target" in f]
        plot(history=history, lines=LATENCY, unit="ms", target=out / "latency.png", windows=windows)
        plot(history=history, lines=THROUGHPUT, unit="/s", target=out / "throughput.png", windows=windows)
    lines = [f"# Load run: {title}", "", "| check | result |", "|---|---|",
             f"| requests | {verdict['requests']} |", f"| failed requests | {verdict['failures']} |",
             f"| server errors (5xx, refused) | {verdict['server_errors']} |",
             f"| instances acknowledged / lost | {verdict['acknowledged']} / {len(verdict['lost'])} |",
             f"| audit chain | {'verifies' if verdict['audit_ok'] else 'BROKEN'} |",
             f"| Locust's exit code (0: it ran to the end) | {verdict.get('locust_exit', 0)} |",
             *client_cpu_rows(verdict.get("client_cpu") or {}), "",
             "| service level | limit | measured | met |", "|---|---|---|---|"]
    for level in verdict["levels"]:
        lines.append(f"| {level['name']} p{level['percentile'].rstrip('%')} | {level['limit_ms']} ms | "
                     f"{level['ms'] if level['ms'] is not None else 'n/a'} ms | {'yes' if level['met'] else 'no'} |")
    faults = verdict.get("faults", [])
    if faults:
        lines += ["", "| fault | from (s into the run) | back at | down for | failed requests from its start "
                  "until none failed for 10 s | normal after back |", "|---|---|---|---|---|---|"]
        for fault in faults:
            if "error" in fault:
                lines.append(f"| FAILED: {fault['error']} | | | | | |")
                continue
            end = fault["end_s"]
            down = f"{end - fault['start_s']:.1f} s" if end is not None else "not restarted"
            back = end if end is not None else "-"
            failed = ", ".join(f"{name} {n}" for name, n in sorted(fault.get("failed", {}).items())) or "none"
            normal = fault.get("normal_after_back_s")
            lines.append(f"| {fault_label(fault)} | {fault['start_s']} | {back} | {down} | {failed} | "
                         f"{'-' if normal is None else f'{normal} s'} |")
    if verdict.get("errors"):
        lines += ["", "| failed requests by name and status (all of the run) | count |", "|---|---|"]
        lines += [f"| {name} | {count} |" for name, count in sorted(verdict["errors"].items())]
    checks = verdict.get("cluster") or {}
    if checks:
        drain = checks.get("backlog_drain_s")
        notices = checks.get("notices", {})
        waited = checks.get("population_prerender_wait_s", "-")
        lines += ["", "| after the run | result |", "|---|---|",
                  f"| (before it) the population's pre-rendering drained, Locust started after | {waited} s |",
                  f"| pre-render backlog drained after the uploads stopped | "
                  f"{'not within 10 min' if drain is None else f'{drain} s'} |",
                  f"| WeChat notices: marked sent / possibly sent (sender killed mid-send) / received | "
                  f"{notices.get('sent')} / {notices.get('possibly_sent')} / {notices.get('received')} |",
                  f"| notices sent twice | {notices.get('sent_twice')} |"]
        lines += ["", "| node | (re)started at | RSS after warm-up | RSS at the end | growth | within 20 % |",
                  "|---|---|---|---|---|---|"]
        for node in checks.get("memory", []):
            warm, growth = node["after_warmup_mb"], node["growth"]
            warm_text = "-" if warm is None else f"{warm} MB (at {node['at_s']} s)"
            growth_text = "-" if growth is None else f"{growth * 100:+.0f} %"
            lines.append(f"| {node['node']} | {node['restarted_at_s'] or 'start'} s | {warm_text} | "
                         f"{node['end_mb']} MB | {growth_text} | {'yes' if node['within_20pct'] else 'no'} |")
    lines += ["", "![latency percentiles over time](latency.png)", "", "![throughput](throughput.png)", ""]
    target = out / "report.md"
    target.write_text("\n".join(lines), encoding="utf-8")
    return target
