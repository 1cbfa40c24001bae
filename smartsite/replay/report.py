"""The replay report: one PNG per alarmed channel (series, limits, alarm intervals) and an index.

The series is read again in a second pass over the input, only for the alarmed channels, and kept
as the minimum and maximum of each of ``BUCKETS`` time buckets, so a year of data per channel fits
in a few kilobytes and the plot still shows every peak.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from gateway.config import SiteConfig, match_channels
from gateway.site import Site
from gateway.vocab import iso_utc
from smartsite.replay.kpi import AlarmKpis
from smartsite.replay.readers import ReadingReader
from smartsite.replay.summary import ReplaySummary

BUCKETS = 2000
MAX_PLOTS = 200
GRADE_COLOURS = {1: "#f2c200", 2: "#f07c00", 3: "#d62020"}
GRADE_NAMES = {1: "yellow", 2: "orange", 3: "red"}


@dataclass(slots=True)
class Envelope:
    """Min, max and count of each channel's values per time bucket."""

    t0: float
    width: float
    low: npt.NDArray[np.float64]  # (channels, BUCKETS)
    high: npt.NDArray[np.float64]
    count: npt.NDArray[np.int64]

    @classmethod
    def empty(cls, n: int, t0: float, t1: float) -> Envelope:
        width = max((t1 - t0) / BUCKETS, 1e-6)
        return cls(
            t0,
            width,
            np.full((n, BUCKETS), np.inf),
            np.full((n, BUCKETS), -np.inf),
            np.zeros((n, BUCKETS), dtype=np.int64),
        )

    def add(
        self, row: npt.NDArray[np.intp], ts: npt.NDArray[np.float64], value: npt.NDArray[np.float64]
    ) -> None:
        ok = np.isfinite(value)
        row, ts, value = row[ok], ts[ok], value[ok]
        bucket = np.clip(((ts - self.t0) / self.width).astype(np.intp), 0, BUCKETS - 1)
        flat = row * BUCKETS + bucket
        np.minimum.at(self.low.reshape(-1), flat, value)
        np.maximum.at(self.high.reshape(-1), flat, value)
        np.add.at(self.count.reshape(-1), flat, 1)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)


def channel_limits(config: SiteConfig, channel_ids: list[str]) -> dict[str, list[tuple[str, int, float]]]:
    """Value limits that threshold rules put on each channel: (rule, grade, limit)."""
    limits: dict[str, list[tuple[str, int, float]]] = {}
    for rule in config.rules:
        if rule.type != "threshold":
            continue
        matched: list[str] = []
        for pattern in rule.channels:
            matched += [c for c in match_channels(pattern, channel_ids) if c not in matched]
        for side in (getattr(rule, "upper", None), getattr(rule, "lower", None)):
            if side is None:
                continue
            for grade, limit in enumerate(side.as_tuple(), start=1):
                if limit is not None:
                    for channel in matched:
                        limits.setdefault(channel, []).append((rule.id, grade, float(limit)))
    return limits


def write_report(
    report_dir: Path,
    config: SiteConfig,
    site: Site,
    input_path: Path,
    summary: ReplaySummary,
    chunk_bytes: int,
) -> list[Path]:
    """Write the PNGs and ``index.html``; returns the PNG paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    report_dir.mkdir(parents=True, exist_ok=True)
    by_channel: dict[str, list[Any]] = {}
    for interval in summary.alarms.values():
        by_channel.setdefault(interval.channel, []).append(interval)
    channels = sorted(by_channel)
    plotted = channels[:MAX_PLOTS]
    ids = list(site.index.ids)
    columns = site.index.columns(plotted)
    pngs: list[Path] = []
    envelope: Envelope | None = None
    if plotted and np.isfinite(summary.first_ts):
        keep = np.zeros(len(ids), dtype=bool)
        keep[columns] = True
        row_of = np.full(len(ids), -1, dtype=np.intp)
        row_of[columns] = np.arange(len(plotted))
        envelope = Envelope.empty(len(plotted), summary.first_ts, summary.last_ts)
        for chunk in ReadingReader(
            input_path, site.index, chunk_bytes, keep=keep, timezone=config.site.timezone
        ):
            envelope.add(row_of[chunk.column], chunk.ts, chunk.value)
    limits = channel_limits(config, ids)
    units = dict(zip(ids, site.units, strict=True))
    entries: list[tuple[str, str | None, list[Any]]] = []
    for row, channel in enumerate(channels):
        intervals = sorted(by_channel[channel], key=lambda i: i.start)
        if envelope is None or row >= len(plotted):
            entries.append((channel, None, intervals))
            continue
        path = report_dir / f"{_slug(channel)}.png"
        fig, ax = plt.subplots(figsize=(11, 3.6), dpi=100)
        try:
            scale, scale_name = (
                (86400.0, "days") if envelope.width * BUCKETS > 3 * 86400 else (3600.0, "hours")
            )
            _plot(ax, scale, envelope, row, summary.last_ts, intervals, limits.get(channel, []))
            unit = units.get(channel, "")
            ax.set_title(f"{channel}: {len(intervals)} alarm(s)")
            ax.set_ylabel(unit or "value")
            ax.set_xlabel(f"{scale_name} since {iso_utc(envelope.t0)}")
            fig.tight_layout()
            fig.savefig(path)
        finally:
            plt.close(fig)
        pngs.append(path)
        entries.append((channel, path.name, intervals))
    kpis = summary.kpis
    (report_dir / "index.html").write_text(_index_html(config, summary, entries, kpis), encoding="utf-8")
    (report_dir / "kpis.json").write_text(json.dumps(kpis.to_dict(), indent=2) + "\n", encoding="utf-8")
    return pngs


def _plot(
    ax: Any,
    scale: float,
    env: Envelope,
    row: int,
    last_ts: float,
    intervals: list[Any],
    limits: list[tuple[str, int, float]],
) -> None:
    has = env.count[row] > 0
    x_all = (np.arange(BUCKETS) + 0.5) * env.width / scale
    x, low, high = x_all[has], env.low[row][has], env.high[row][has]
    mid = (low + high) / 2
    if len(x):
        ax.fill_between(x, low, high, color="#1f5fa8", alpha=0.35, linewidth=0, step="mid")
        ax.plot(x, mid, color="#1f5fa8", linewidth=0.8, marker="." if len(x) < 200 else None)
    for _rule, grade, limit in limits:
        ax.axhline(limit, color=GRADE_COLOURS[grade], linestyle="--", linewidth=1.0)
    for interval in intervals:
        # Each stretch of the alarm shaded in the colour of its grade at the time.
        steps = interval.steps or [(interval.start, interval.max_grade)]
        stop = interval.end if interval.end is not None else last_ts
        for (at, grade), following in zip(steps, [*steps[1:], (stop, 0)], strict=True):
            if grade <= 0:
                continue
            a = (at - env.t0) / scale
            b = max((following[0] - env.t0) / scale, a + env.width / scale)
            ax.axvspan(a, b, color=GRADE_COLOURS.get(grade, "grey"), alpha=0.25, linewidth=0)
    ax.grid(True, alpha=0.3)


def _kpi_html(kpis: AlarmKpis) -> str:
    """The alarm KPIs (ISA-18.2 / EEMUA 191) as a short table and the most frequent alarms."""
    esc = html.escape
    when = iso_utc(kpis.peak_10min_start) if kpis.peak_10min_start is not None else "-"
    facts = [
        ("alarms raised", f"{kpis.alarms:,} in {kpis.hours:,.1f} h"),
        ("alarms per hour", f"{kpis.alarms_per_hour:.2f}"),
        ("peak in 10 minutes", f"{kpis.peak_10min} (from {when})"),
        ("grade changes", f"{kpis.changes:,}"),
        (
            "chattering (3+ changes in 60 s)",
            f"{kpis.chattering_pairs} alarm(s), {kpis.chattering_episodes} episode(s)",
        ),
        ("standing: active at the end", str(kpis.standing_at_end)),
        ("standing: active over 24 h", str(kpis.standing_over_24h)),
    ]
    table = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in facts)
    top = "".join(
        f"<tr><td>{esc(p.channel)}</td><td>{esc(p.rule)}</td><td>{p.alarms}</td><td>{p.changes}</td>"
        f"<td>{p.chattering_episodes}</td></tr>"
        for p in kpis.top
    )
    return (
        f"<h2>Alarm KPIs</h2><table>{table}</table>"
        "<h3>Most frequent alarms</h3><table><tr><th>channel</th><th>rule</th><th>alarms</th>"
        f"<th>changes</th><th>chattering episodes</th></tr>{top or '<tr><td>none</td></tr>'}</table>"
    )


def _index_html(
    config: SiteConfig,
    summary: ReplaySummary,
    entries: list[tuple[str, str | None, list[Any]]],
    kpis: AlarmKpis,
) -> str:
    esc = html.escape
    rows: list[str] = []
    for channel, png, intervals in entries:
        episodes = "".join(
            f"<li>{esc(i.rule)}: {GRADE_NAMES.get(i.max_grade, i.max_grade)} from {iso_utc(i.start)} "
            f"to {iso_utc(i.end) if i.end is not None else 'end of data'}</li>"
            for i in intervals
        )
        image = (
            f'<a href="{esc(png)}"><img src="{esc(png)}" alt="{esc(channel)}"></a>'
            if png
            else "<p>(not plotted)</p>"
        )
        rows.append(
            f'<section><h2 id="{esc(_slug(channel))}">{esc(channel)}</h2>{image}<ul>{episodes}</ul></section>'
        )
    rejected = ", ".join(f"{esc(k)} {v:,}" for k, v in sorted(summary.rejected.items())) or "none"
    toc = "".join(f'<li><a href="#{esc(_slug(c))}">{esc(c)}</a> ({len(i)})</li>' for c, _, i in entries)
    return (
        '<!doctype html><html><head><meta charset="utf-8">'
        f"<title>Replay report: {esc(config.site.id)}</title>"
        "<style>body{font-family:sans-serif;margin:1em}img{max-width:100%}th{text-align:left}"
        "td,th{padding:0 .6em}</style></head><body>"
        f"<h1>Replay report: {esc(config.site.name or config.site.id)}</h1>"
        f"<p>Input {esc(summary.input)}: {summary.rows:,} rows, {summary.readings:,} readings analysed, "
        f"{summary.events:,} alarm events, {len(summary.alarms):,} alarms. Rejected: {rejected}.</p>"
        + _kpi_html(kpis)
        + f"<h2>Alarmed channels</h2><ul>{toc or '<li>none</li>'}</ul>"
        + "".join(rows)
        + "</body></html>\n"
    )
