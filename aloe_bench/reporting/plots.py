"""Paper-ready figures: AL(k) curves of several runs with confidence bands (and PF1(k) curves of
runs with a profile measurement), and a per-persona score heatmap of one run. PNG (200 dpi), SVG or PDF, chosen by the file suffix.

matplotlib is optional: it is imported inside the functions, never through pyplot (no display,
no global backend switch), and a missing install is a :class:`MissingDependencyError` that says
what to install.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from aloe_bench.errors import ConfigError, MissingDependencyError
from aloe_bench.reporting.results import RunResult, unique_labels

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

FIGURE_SUFFIXES = (".png", ".svg", ".pdf")
PNG_DPI = 200

# Deterministic output (no timestamps, stable SVG ids) so published figures diff cleanly.
_RC = {"svg.hashsalt": "aloe-bench", "svg.fonttype": "path", "font.size": 10, "axes.titlesize": 11,
       "axes.labelsize": 10, "legend.fontsize": 8.5, "xtick.labelsize": 9, "ytick.labelsize": 9,
       "axes.spines.top": False, "axes.spines.right": False}
_LINESTYLES = ("-", "--", "-.", ":")
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def require_matplotlib():
    """The matplotlib module, or a :class:`MissingDependencyError` naming the install command."""
    try:
        import matplotlib
    except ImportError:
        raise MissingDependencyError(
            "Plots and the HTML report need matplotlib, which is not installed.",
            "Install it with: pip install 'matplotlib>=3.7'") from None
    return matplotlib


def _plain(text: str) -> str:
    """``text`` shown literally: a ``$`` in a model name must not start matplotlib's mathtext."""
    return text.replace("$", r"\$")


def _figure(width: float, height: float) -> "Figure":
    require_matplotlib()
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _legend_columns(n: int) -> int:
    """Columns of the curve legend: one for a single run, two otherwise (long model names fit)."""
    return 1 if n <= 1 else 2


def curves_figure(results: Sequence[RunResult], *, labels: Sequence[str] | None = None,
                  ylim: tuple[float, float] | None = (1.0, 5.0), title: str | None = None,
                  bands: bool = True) -> "Figure":
    """AL(k) of each result on shared axes, with its per-turn 95% bootstrap band.

    Bands need the run's scores (``scores.jsonl`` or ``score_matrix.json``); a result without
    them is drawn as a line only. ``ylim=None`` fits the y axis to the data instead of the 1-5
    score range.
    """
    return _curves(results, curve=lambda r: r.summary.al, avg=lambda r: r.summary.avg, band=lambda r: r.turn_ci(),
                   has_band=lambda r: r.matrix is not None, ylabel="AL(k): mean judge score", avg_name="avg",
                   labels=labels, ylim=ylim, title=title, bands=bands)


def pf1_curves_figure(results: Sequence[RunResult], *, labels: Sequence[str] | None = None,
                      ylim: tuple[float, float] | None = (0.0, 1.0), title: str | None = None,
                      bands: bool = True) -> "Figure":
    """PF1(k) (mean profile F1 per turn: how much of the user the model has understood after k
    turns) of each result that has a profile measurement, with its per-turn 95% bootstrap band
    (from the run's probes.jsonl; a line only without it). Results without PF1 are left out;
    none with it is a :class:`ConfigError`."""
    results = [r for r in results if r.has_pf1]
    if not results:
        raise ConfigError("None of these runs measured profile inference (no PF1).",
                          "Run `aloe-bench evaluate` with --profile-probe or --reply-format rlpa.")
    return _curves(results, curve=lambda r: r.summary.pf1 or [], avg=lambda r: r.summary.pf1_avg,
                   band=lambda r: r.pf1_turn_ci(), has_band=lambda r: r.store.probes_path.is_file(),
                   ylabel="PF1(k): mean profile F1", avg_name="PF1 avg", labels=labels, ylim=ylim, title=title,
                   bands=bands)


def _curves(results: Sequence[RunResult], *, curve, avg, band, has_band, ylabel: str, avg_name: str,
            labels: Sequence[str] | None, ylim: tuple[float, float] | None, title: str | None,
            bands: bool) -> "Figure":
    """One curve per result (``curve(result)``: a value per turn) on shared axes, with its band
    (``band(result)``: per-turn low and high) and its mean (``avg(result)``) in the legend."""
    if not results:
        raise ConfigError("No runs to plot.")
    matplotlib = require_matplotlib()
    labels = list(labels) if labels is not None else unique_labels(list(results))
    kmax = max(r.summary.turns for r in results)
    with matplotlib.rc_context(_RC):
        rows = -(-len(results) // _legend_columns(len(results)))
        fig = _figure(6.4, 4.0 + 0.17 * max(0, rows - 2))
        ax = fig.add_subplot()
        colors = matplotlib.colormaps["tab10"].colors
        for i, (r, label) in enumerate(zip(results, labels)):
            s = r.summary
            ks = np.arange(1, s.turns + 1)
            values = list(curve(r))[: s.turns]
            values += [None] * (s.turns - len(values))
            ys = np.array([np.nan if v is None else v for v in values], dtype=float)
            color = colors[i % len(colors)]
            style = _LINESTYLES[(i // len(colors)) % len(_LINESTYLES)]
            mean = avg(r)
            note = f" — {avg_name} {mean:.2f}" if mean is not None else ""
            ax.plot(ks, ys, linestyle=style, marker=_MARKERS[i % len(_MARKERS)], markersize=4, linewidth=1.6,
                    color=color, label=_plain(f"{label}{note}"), zorder=3)
            if bands:
                low, high = band(r)
                lo = np.array([np.nan if v is None else v for v in low], dtype=float)
                hi = np.array([np.nan if v is None else v for v in high], dtype=float)
                if not np.all(np.isnan(lo)):
                    ax.fill_between(ks, lo, hi, color=color, alpha=0.15, linewidth=0, zorder=2)
        _drift_markers(ax, results)
        ax.set_xlabel("Turn k")
        ax.set_ylabel(ylabel)
        ax.set_xticks(np.arange(1, kmax + 1))
        ax.set_xlim(0.7, kmax + 0.3)
        if ylim is not None:
            ax.set_ylim(*ylim)
        ax.grid(True, color="#dddddd", linewidth=0.6, zorder=0)
        if title:
            ax.set_title(_plain(title))
        # Legend best-first, as in a leaderboard; the colours keep the input order. It sits
        # beneath the axes, outside them, so it never covers curves (low scores lie where an
        # inside legend would go); the band note is its title, outside the data too.
        handles, texts = ax.get_legend_handles_labels()
        rank = sorted(range(len(results)), key=lambda i: -(avg(results[i]) if avg(results[i]) is not None
                                                           else float("-inf")))
        band_note = "shaded: 95% bootstrap CI over personas" if bands and any(
            has_band(r) for r in results) else None
        legend = fig.legend([handles[i] for i in rank], [texts[i] for i in rank], loc="outside lower center",
                            ncol=_legend_columns(len(results)), frameon=False, title=band_note,
                            title_fontsize=7.5)
        legend.get_title().set_color("#666666")
    return fig


#: Colour of the vertical marker at a persona drift's turn K.
DRIFT_COLOR = "#b54708"


def _drift_markers(ax, results: Sequence[RunResult]) -> None:
    """A dotted vertical line at each persona drift's K among ``results`` (docs/drift.md), labelled
    at the top; its SVG id is ``drift-marker-K``."""
    for k in sorted({r.summary.drift.at for r in results if r.summary.drift is not None}):
        line = ax.axvline(k, color=DRIFT_COLOR, linestyle=":", linewidth=1.3, zorder=1)
        line.set_gid(f"drift-marker-{k}")
        ax.annotate(f"drift at {k}", xy=(k, 1.0), xycoords=("data", "axes fraction"), xytext=(3, -10),
                    textcoords="offset points", fontsize=7.5, color=DRIFT_COLOR)


def drift_pf1_figure(result: RunResult, *, title: str | None = None) -> "Figure":
    """PF1(k) of one drift run with a profile measurement against the starting persona's golden
    facts (old) and the drifted persona's (new), with the marker at K: how fast stale facts are
    dropped and new ones learned (``summary.drift.pf1_old`` and ``pf1_new``)."""
    d = result.summary.drift
    if d is None or d.pf1_old is None:
        raise ConfigError(f"{result.name} has no PF1 against the old and the new profile.",
                          "Run `aloe-bench evaluate` with --drift-at K and --profile-probe.")
    matplotlib = require_matplotlib()
    with matplotlib.rc_context(_RC):
        fig = _figure(6.4, 4.0)
        ax = fig.add_subplot()
        ks = np.arange(1, result.summary.turns + 1)
        for values, label, style, marker in ((d.pf1_old, "against the old (starting) profile", "-", "o"),
                                             (d.pf1_new or [], "against the new (drifted) profile", "--", "s")):
            ys = np.array([np.nan if v is None else v for v in (list(values) + [None] * len(ks))[: len(ks)]],
                          dtype=float)
            ax.plot(ks, ys, linestyle=style, marker=marker, markersize=4, linewidth=1.6, label=label, zorder=3)
        _drift_markers(ax, [result])
        ax.set_xlabel("Turn k")
        ax.set_ylabel("PF1(k): mean profile F1")
        ax.set_xticks(ks)
        ax.set_xlim(0.7, len(ks) + 0.3)
        ax.set_ylim(0.0, 1.0)
        ax.grid(True, color="#dddddd", linewidth=0.6, zorder=0)
        ax.set_title(_plain(title or f"Stale and new facts: {result.summary.model}"))
        fig.legend(loc="outside lower center", ncol=2, frameon=False)
    return fig


def _score_label(value: float, whole: bool) -> str:
    """A heatmap cell's text: ``4`` when every score of the matrix is a whole number, else one
    decimal (``3.7``; means of judge samples and probability-weighted scores)."""
    return f"{value:.0f}" if whole else f"{value:.1f}"


def heatmap_figure(result: RunResult, *, title: str | None = None, max_labels: int = 60) -> "Figure":
    """Judge score per persona (rows) and turn (columns) of one run; grey cells have no score."""
    if result.matrix is None:
        raise ConfigError(f"{result.name} has no per-conversation scores to draw a heatmap from.",
                          "The run folder needs scores.jsonl (or score_matrix.json in published results).")
    matplotlib = require_matplotlib()
    m = result.matrix
    rows, turns = m.values.shape
    annotate = rows * turns <= 400
    with matplotlib.rc_context(_RC):
        height = min(max(2.4, 1.1 + (0.17 if rows <= 40 else 0.12) * rows), 20.0)
        fig = _figure(min(max(5.0, 2.4 + 0.55 * turns), 8.0), height)
        ax = fig.add_subplot()
        cmap = matplotlib.colormaps["viridis"].with_extremes(bad="#d9d9d9")
        img = ax.imshow(np.ma.masked_invalid(m.values), cmap=cmap, vmin=1, vmax=5, aspect="auto",
                        interpolation="nearest")
        ax.set_xticks(np.arange(turns), [str(k) for k in range(1, turns + 1)])
        step = max(1, int(np.ceil(rows / max_labels)))
        ticks = np.arange(0, rows, step)
        ax.set_yticks(ticks, [_plain(m.persona_ids[i]) for i in ticks], fontsize=7 if rows > 25 else 8.5)
        ax.set_xlabel("Turn k")
        ax.set_ylabel("Persona")
        for side in ("top", "right"):
            ax.spines[side].set_visible(True)
        if annotate:
            whole = bool(np.all(np.isnan(m.values) | (m.values == np.round(m.values))))
            for i in range(rows):
                for k in range(turns):
                    v = m.values[i, k]
                    if not np.isnan(v):
                        ax.text(k, i, _score_label(v, whole), ha="center", va="center", fontsize=7,
                                color="white" if v < 3.5 else "black")
        bar = fig.colorbar(img, ax=ax, ticks=[1, 2, 3, 4, 5], shrink=min(1.0, 6 / height) if height > 6 else 1.0)
        bar.set_label("judge score")
        ax.set_title(_plain(title or f"Per-persona scores: {result.summary.model}"))
    return fig


def save_figure(fig: "Figure", path: str | Path) -> Path:
    """Write ``fig`` to ``path``; the suffix picks the format (.png at 200 dpi, .svg, .pdf)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FIGURE_SUFFIXES:
        raise ConfigError(f"Cannot write a figure to {path}: unknown suffix {path.suffix!r}.",
                          f"Use one of {', '.join(FIGURE_SUFFIXES)}.")
    matplotlib = require_matplotlib()
    path.parent.mkdir(parents=True, exist_ok=True)
    metadata = {"png": {"Software": None}, "svg": {"Date": None, "Creator": None},
                "pdf": {"CreationDate": None, "Creator": None, "Producer": None}}[suffix[1:]]
    with matplotlib.rc_context(_RC):
        fig.savefig(path, dpi=PNG_DPI if suffix == ".png" else "figure", metadata=metadata)
    return path


def figure_bytes(fig: "Figure", fmt: str = "svg") -> bytes:
    """``fig`` encoded as ``svg`` or ``png`` bytes (for embedding in the HTML report)."""
    import io

    matplotlib = require_matplotlib()
    buf = io.BytesIO()
    metadata = {"Date": None, "Creator": None} if fmt == "svg" else {"Software": None}
    with matplotlib.rc_context(_RC):
        fig.savefig(buf, format=fmt, dpi=PNG_DPI if fmt == "png" else "figure", metadata=metadata)
    return buf.getvalue()


def plot_curves(results: Sequence[RunResult], paths: Sequence[str | Path], **options) -> list[Path]:
    """Draw :func:`curves_figure` once and write it to every path in ``paths``."""
    fig = curves_figure(results, **options)
    return [save_figure(fig, p) for p in paths]


def plot_pf1_curves(results: Sequence[RunResult], paths: Sequence[str | Path], **options) -> list[Path]:
    """Draw :func:`pf1_curves_figure` once and write it to every path in ``paths``."""
    fig = pf1_curves_figure(results, **options)
    return [save_figure(fig, p) for p in paths]


def plot_heatmap(result: RunResult, paths: Sequence[str | Path], **options) -> list[Path]:
    """Draw :func:`heatmap_figure` once and write it to every path in ``paths``."""
    fig = heatmap_figure(result, **options)
    return [save_figure(fig, p) for p in paths]
