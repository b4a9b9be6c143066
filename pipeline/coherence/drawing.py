"""Presentation of a coherence report: a matplotlib chart (PNG / inline SVG) and a text table.

Both accept a ``CoherenceReport`` or its stored dict form (``Generation.coherence_report``).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeline.coherence.score import VERSION, BoundaryScore, CoherenceReport

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _as_report(report: dict[str, Any] | CoherenceReport) -> CoherenceReport:
    return report if isinstance(report, CoherenceReport) else CoherenceReport.from_dict(report)


# Bar colours: green = seen continuous, grey hatched = seen as a cut (fine where the plan cuts),
# red = failed hand-over (planned continuous, seen as a cut).
GREEN, GREY, RED = "#55a868", "#bbbbbb", "#c44e52"


def _style_panel(ax: Any, report: CoherenceReport) -> None:
    labels = []
    for s in report.scenes:
        cuts = len(s.internal_cuts)
        labels.append(f"scene {s.index + 1}" + (f"\n✂ {cuts} cut inside" if cuts else ""))
    x = np.arange(len(report.scenes))
    to_first = [1.0 - s.style_to_first for s in report.scenes]
    to_prev = [0.0 if s.style_to_prev is None else 1.0 - s.style_to_prev for s in report.scenes]
    ax.bar(x - 0.2, to_first, 0.4, label="vs. first scene", color="#4c72b0")
    ax.bar(x + 0.2, to_prev, 0.4, label="vs. previous scene", color="#dd8452")
    ax.set_xticks(x, labels, fontsize=8)
    ax.set_ylim(0, 1.25)  # headroom for the legend; ticks stop at the real maximum
    ax.set_yticks(np.linspace(0, 1, 6))
    ax.set_ylabel("style distance (0 = identical)")
    ax.set_title("Style drift per scene", fontsize=10)
    ax.legend(fontsize=8, loc="upper center", ncols=2)


def _boundary_colour(b: BoundaryScore) -> str:
    if b.failed_handover:
        return RED
    return GREEN if b.verdict == "continuous" else GREY


def _boundary_label(b: BoundaryScore) -> str:
    planned = f"plan: {b.kind}" if b.kind else "no plan"
    seen = "FAILED HAND-OVER" if b.failed_handover else f"seen: {b.verdict}"
    return f"{b.from_index + 1}→{b.to_index + 1}\n{planned}\n{seen}"


def _continuity_panel(ax: Any, report: CoherenceReport) -> None:
    from matplotlib.patches import Patch

    bx = np.arange(len(report.boundaries))
    bars = ax.bar(
        bx,
        [b.continuity for b in report.boundaries],
        0.6,
        color=[_boundary_colour(b) for b in report.boundaries],
    )
    for bar, b in zip(bars, report.boundaries, strict=True):
        bar.set_hatch("//" if b.verdict == "cut" else "")
    ax.bar_label(bars, fmt="%.2f", fontsize=8)
    ax.axhline(report.threshold, color="#555555", linestyle="--", linewidth=1)
    ax.set_xticks(bx, [_boundary_label(b) for b in report.boundaries], fontsize=7)
    ax.legend(
        handles=[
            Patch(color=GREEN, label="continuous"),
            Patch(facecolor=GREY, hatch="//", label="cut"),
            Patch(color=RED, label="failed hand-over"),
            Patch(facecolor="none", edgecolor="#555555", linestyle="--", label="threshold"),
        ],
        fontsize=7,
        loc="upper center",
        ncols=4,
    )


def _figure(report: CoherenceReport) -> Figure:
    import matplotlib

    matplotlib.use("Agg")  # headless: called from workers and tests, never with a display
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 3.9), dpi=100, layout="constrained")
    ax_style, ax_cont = fig.subplots(1, 2, width_ratios=[1.1, 1])
    cont = "n/a" if report.continuity is None else f"{report.continuity:.2f}"
    failed = len(report.failed_handovers)
    warning = f"  ✘ {failed} failed hand-over{'s' if failed > 1 else ''}" if failed else ""
    fig.suptitle(
        f"Coherence {report.score:.2f}  (style {report.style:.2f} · continuity {cont} · "
        f"stability {report.stability:.2f}){warning}",
        fontsize=11,
        color=RED if failed else "black",
    )
    _style_panel(ax_style, report)
    if report.boundaries:
        _continuity_panel(ax_cont, report)
    else:
        ax_cont.text(0.5, 0.5, "one scene: no boundaries", ha="center", va="center")
        ax_cont.set_xticks([])
    ax_cont.set_ylim(0, 1.25)
    ax_cont.set_yticks(np.linspace(0, 1, 6))
    ax_cont.set_ylabel("continuity (1 = seamless)")
    ax_cont.set_title("Continuity per boundary (seen in the pixels)", fontsize=10)
    return fig


def render_report_png(report: dict[str, Any] | CoherenceReport, path: Path) -> None:
    """Write the two-panel chart (style distance per scene, continuity per boundary) as PNG."""
    fig = _figure(_as_report(report))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(Path(path), format="png")


def render_report_svg(report: dict[str, Any] | CoherenceReport) -> str:
    """The same chart as an inline ``<svg>`` string (no XML prolog) for HTML pages."""
    import matplotlib

    # Real <text> elements instead of glyph outlines: several times smaller and searchable.
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": VERSION}):
        fig = _figure(_as_report(report))
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None})
    svg = buf.getvalue()
    start = svg.find("<svg")
    return svg[start:] if start >= 0 else svg


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _scene_lines(r: CoherenceReport) -> list[str]:
    lines = [
        f"{'scene':>5}  {'style~first':>11}  {'style~prev':>10}  {'style~all':>9}  "
        f"{'stability':>9}  {'flicker':>7}  {'noise':>5}  internal cuts (s)",
    ]
    for s in r.scenes:
        cuts = ", ".join(f"{t:.2f}" for t in s.internal_cuts) or "-"
        lines.append(
            f"{s.index + 1:>5}  {_fmt(s.style_to_first):>11}  {_fmt(s.style_to_prev):>10}  "
            f"{_fmt(s.style_mean):>9}  {_fmt(s.stability):>9}  {s.flicker:>7.3f}  "
            f"{s.noise:>5.3f}  {cuts}"
        )
    return lines


def _boundary_lines(r: CoherenceReport) -> list[str]:
    if not r.boundaries:
        return ["no boundaries"]
    lines = [
        f"{'boundary':>8}  {'plan':<10}  {'verdict':<10}  {'continuity':>10}  {'similar':>7}  "
        f"{'motion':>6}  {'style':>6}",
    ]
    for b in r.boundaries:
        flag = "  FAILED HAND-OVER" if b.failed_handover else ""
        lines.append(
            f"{f'{b.from_index + 1}->{b.to_index + 1}':>8}  {b.kind or '-':<10}  "
            f"{b.verdict:<10}  {b.continuity:>10.3f}  {b.similarity:>7.3f}  "
            f"{b.motion_consistency:>6.3f}  {b.style_similarity:>6.3f}{flag}"
        )
    return lines


def format_report_table(report: dict[str, Any] | CoherenceReport) -> str:
    """Plain-text table for a CLI: one row per scene, one per boundary, then the score."""
    r = _as_report(report)
    lines = [*_scene_lines(r), "", *_boundary_lines(r), ""]
    lines.append(
        f"score {r.score:.3f} = style {r.style:.3f} · continuity {_fmt(r.continuity)} · "
        f"stability {r.stability:.3f}   [{r.version}, cut below {r.threshold:.2f}]"
    )
    lines.extend(f"note: {n}" for n in r.notes)
    return "\n".join(lines)
