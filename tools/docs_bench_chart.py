"""MkDocs hook: draws the benchmark chart of the Performance page from
``bench/results/latest.json``, which ``make bench`` rewrites.

A page that contains ``<!-- bench-chart -->`` gets, in its place, one inline SVG bar
chart per headline scenario (S1 to S5): each library's median time per call, the bars
scaled within the scenario. The chart is made at build time from the JSON alone: no
plotting library and nothing fetched, so the site builds offline and always shows the
run that the JSON holds.
"""

from __future__ import annotations

import html
import json
import pathlib
from typing import Any

MARKER = "<!-- bench-chart -->"
RESULTS = pathlib.Path(__file__).resolve().parent.parent / "bench" / "results" / "latest.json"
SCENARIOS = ("S1", "S2", "S3", "S4", "S5")

LABEL_WIDTH, BAR_WIDTH, VALUE_WIDTH = 170, 330, 90
ROW, TOP = 22, 28


def _ns(value: float) -> str:
    return f"{value:,.0f} ns" if value >= 100 else f"{value:.1f} ns"


def _chart(scenario: dict[str, Any]) -> str:
    rows = [row for row in scenario["rows"] if row.get("median_ns")]
    longest = max(row["median_ns"] for row in rows)
    width = LABEL_WIDTH + BAR_WIDTH + VALUE_WIDTH
    height = TOP + ROW * len(rows) + 6
    title = html.escape(scenario["title"].replace("`", ""))
    heading = html.escape(scenario["title"].replace("`", "").split(" (")[0][:80])
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" font-size="12" '
        f'font-family="sans-serif"><title>{title}</title>',
        f'<text x="0" y="16" font-weight="bold" fill="currentColor">{heading}</text>',
    ]
    for index, row in enumerate(rows):
        y = TOP + index * ROW
        length = max(1.0, BAR_WIDTH * row["median_ns"] / longest)
        colour = "#3f51b5" if row["library"].startswith("loglayer") else "#9e9e9e"
        name = html.escape(row["library"])
        parts.append(f'<text x="0" y="{y + 14}" fill="currentColor">{name}</text>')
        parts.append(f'<rect x="{LABEL_WIDTH}" y="{y + 3}" width="{length:.1f}" '
                     f'height="{ROW - 6}" fill="{colour}"/>')
        parts.append(f'<text x="{LABEL_WIDTH + length + 6:.1f}" y="{y + 14}" '
                     f'fill="currentColor">{_ns(row["median_ns"])}</text>')
    parts.append("</svg>")
    return "".join(parts)


def render(results: dict[str, Any]) -> str:
    """The charts and a line naming the run, as Markdown with inline HTML."""
    by_id = {scenario["id"]: scenario for scenario in results["scenarios"]}
    charts = [_chart(by_id[name]) for name in SCENARIOS if name in by_id]
    machine = results.get("machine", {})
    python = results.get("python", {})
    caption = (f"Median time per call (shorter is faster), from the run of "
               f"{results.get('generated', '?')} on {machine.get('cpu', '?')} "
               f"({machine.get('nproc', '?')} CPUs), {python.get('implementation', '')} "
               f"{python.get('version', '')}: `bench/results/latest.json`.")
    body = "\n".join(f'<p class="bench-chart">{chart}</p>' for chart in charts)
    return f"{body}\n\n{caption}\n"


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    """The MkDocs event: put the charts where a page asks for them."""
    if MARKER not in markdown:
        return markdown
    results = json.loads(RESULTS.read_text(encoding="utf-8"))
    return markdown.replace(MARKER, render(results))
