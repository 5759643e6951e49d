"""Figures: AL(k) curves with CI bands on shared axes, per-persona heatmaps, PNG/SVG output."""

from __future__ import annotations

import struct
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from aloe_bench.errors import ConfigError, MissingDependencyError
from aloe_bench.reporting.plots import curves_figure, heatmap_figure, plot_curves, plot_heatmap, save_figure
from aloe_bench.reporting.results import ScoreMatrix, load_result
from tests.reporting_runs import make_host, make_run


@pytest.fixture(scope="module")
def results(tmp_path_factory, aloe_data_dir):
    base = tmp_path_factory.mktemp("plot-runs")
    with pytest.MonkeyPatch.context() as mp:
        host = make_host(aloe_data_dir, mp)
        dirs = [make_run(base / "up", host, "trend:2:0.5", turns=5, limit=8),
                make_run(base / "flat", host, "trend:3:0", turns=5, limit=8),
                make_run(base / "short", host, "trend:4:0.2", turns=3, limit=8)]
    return [load_result(d) for d in dirs]


def test_curves_share_axes_with_bands_turn_ticks_and_score_range(results):
    fig = curves_figure(results)
    (ax,) = fig.axes
    assert ax.get_ylim() == (1.0, 5.0)
    assert list(ax.get_xticks()) == [1, 2, 3, 4, 5]
    assert ax.get_xlabel() == "Turn k" and "AL(k)" in ax.get_ylabel()
    lines = ax.get_lines()
    assert len(lines) == len(results)
    for line, r in zip(lines, results):
        assert list(line.get_xdata()) == list(range(1, r.summary.turns + 1))
        assert np.allclose(line.get_ydata(), r.summary.al)
    bands = ax.collections
    assert len(bands) == len(results)
    for band, r in zip(bands, results):
        low, high = r.turn_ci()
        verts = band.get_paths()[0].vertices
        assert np.isclose(verts[:, 1].min(), min(low)) and np.isclose(verts[:, 1].max(), max(high))
        assert all(lo <= al <= hi for lo, al, hi in zip(low, r.summary.al, high))
    (legend_box,) = fig.legends
    legend = [t.get_text() for t in legend_box.get_texts()]
    by_avg = sorted(results, key=lambda r: -r.summary.avg)
    assert legend == [f"{r.summary.model} — avg {r.summary.avg:.2f}" for r in by_avg]


def test_legend_never_covers_low_curves(tmp_path_factory, aloe_data_dir):
    """Two runs near 1.5 (the demo's scores): the legend and the band note lie outside the axes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    base = tmp_path_factory.mktemp("low-runs")
    with pytest.MonkeyPatch.context() as mp:
        host = make_host(aloe_data_dir, mp)
        low = [load_result(make_run(base / name, host, spec, turns=5, limit=8))
               for name, spec in (("a", "trend:1.5:0"), ("b", "trend:1.6:0.02"))]
    for runs in (low, low * 4):  # two runs, and eight (a legend of several rows)
        fig = curves_figure(runs)
        canvas = FigureCanvasAgg(fig)
        canvas.draw()  # constrained layout places the legend while drawing
        renderer = canvas.get_renderer()
        (ax,) = fig.axes
        axes_box = ax.get_window_extent(renderer)
        assert ax.get_legend() is None and not ax.texts  # nothing drawn inside the axes
        (legend,) = fig.legends
        legend_box = legend.get_window_extent(renderer)
        assert legend_box.y1 <= axes_box.y0  # entirely beneath the axes
        assert legend_box.y0 >= 0 and legend_box.x0 >= 0 and legend_box.x1 <= fig.bbox.width  # inside the figure
        assert "bootstrap CI" in legend.get_title().get_text()
        for tick in ax.get_xticklabels():
            assert not legend_box.overlaps(tick.get_window_extent(renderer))
        assert not legend_box.overlaps(ax.xaxis.label.get_window_extent(renderer))


def test_png_at_200_dpi_and_svg_are_written(results, tmp_path):
    png, svg = plot_curves(results, [tmp_path / "c.png", tmp_path / "sub" / "c.svg"])
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == (1280, 800)
    root = ET.parse(svg).getroot()
    assert root.tag.endswith("svg")
    text = svg.read_text()
    assert "Turn k" in text and "trend:2:0.5" in text  # matplotlib keeps text as comments
    assert "<dc:date>" not in text  # no timestamp: regenerating gives the same file
    again = plot_curves(results, [tmp_path / "d.png", tmp_path / "d.svg"])[1]
    assert again.read_text() == text


def test_heatmap_shows_the_score_matrix(results, tmp_path):
    r = results[0]
    fig = heatmap_figure(r)
    ax = fig.axes[0]
    (img,) = ax.get_images()
    shown = np.ma.filled(img.get_array().astype(float), np.nan)
    assert np.array_equal(shown, r.matrix.values, equal_nan=True)
    assert img.get_clim() == (1, 5)
    assert [t.get_text() for t in ax.get_yticklabels()] == r.matrix.persona_ids
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "2", "3", "4", "5"]
    # Column means of the drawn matrix are the run's AL(k).
    assert np.allclose(np.nanmean(shown, axis=0), r.summary.al)
    png, svg = plot_heatmap(r, [tmp_path / "h.png", tmp_path / "h.svg"])
    assert png.read_bytes()[:4] == b"\x89PNG" and svg.stat().st_size > 1000


def test_heatmap_cell_labels_have_at_most_one_decimal():
    import types

    values = np.array([[3.4567, 2.0, np.nan], [4.96, 1.25, 5.0]])
    fake = types.SimpleNamespace(matrix=ScoreMatrix(["c0", "c1"], ["p0", "p1"], values),
                                 summary=types.SimpleNamespace(model="m"), name="x")
    texts = [t.get_text() for t in heatmap_figure(fake).axes[0].texts]
    assert texts == ["3.5", "2.0", "5.0", "1.2", "5.0"]  # np.nan has no label
    whole = types.SimpleNamespace(matrix=ScoreMatrix(["c0"], ["p0"], np.array([[3.0, 4.0, np.nan]])),
                                  summary=types.SimpleNamespace(model="m"), name="x")
    assert [t.get_text() for t in heatmap_figure(whole).axes[0].texts] == ["3", "4"]


def test_heatmap_greys_missing_scores_and_thins_labels():
    import types

    values = np.full((80, 4), 3.0)
    values[5, 2] = np.nan
    fake = types.SimpleNamespace(matrix=ScoreMatrix([f"c{i}" for i in range(80)], [f"p{i}" for i in range(80)], values),
                                 summary=types.SimpleNamespace(model="m$x$"), name="x")
    fig = heatmap_figure(fake)
    ax = fig.axes[0]
    assert np.ma.is_masked(ax.get_images()[0].get_array()[5, 2])
    assert len(ax.get_yticklabels()) == 40  # every second persona labelled
    assert ax.get_title() == r"Per-persona scores: m\$x\$"  # a $ in a name is no mathtext


def test_turn_ci_bootstrap_is_seeded_and_exact_for_constant_columns():
    m = ScoreMatrix(["a", "b", "c"], ["a", "b", "c"],
                    np.array([[2.0, 4.0, np.nan], [2.0, 5.0, np.nan], [2.0, 3.0, np.nan]]))
    low, high = m.turn_ci(seed=1)
    assert low[0] == high[0] == 2.0
    assert 3.0 <= low[1] <= 4.0 <= high[1] <= 5.0
    assert low[2] is None and high[2] is None
    assert m.turn_ci(seed=1) == (low, high)


def test_errors_are_user_errors(results, tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="unknown suffix"):
        save_figure(curves_figure(results[:1]), tmp_path / "x.gif")
    with pytest.raises(ConfigError, match="No runs"):
        curves_figure([])
    no_matrix = load_result(results[0].path)
    no_matrix.matrix = None
    with pytest.raises(ConfigError, match="no per-conversation scores"):
        heatmap_figure(no_matrix)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if matplotlib were not installed
    with pytest.raises(MissingDependencyError, match="pip install 'matplotlib"):
        curves_figure(results)
