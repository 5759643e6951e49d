"""The complete minimal plugin of docs/writing_plugins.md works as printed."""

import asyncio
import re
import types
from pathlib import Path

from aloe_bench.evaluation.config import EvalConfig
from aloe_bench.evaluation.engine import Evaluation
from aloe_bench.plugins import PluginHost

DOC = Path(__file__).resolve().parents[1] / "docs" / "writing_plugins.md"


def _module_from_doc():
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    source = next(b for b in blocks if "class ShoutModel" in b)
    module = types.ModuleType("aloe_bench_shout")
    exec(compile(source, str(DOC), "exec"), module.__dict__)
    return module


def test_documented_plugin_runs(aloe_data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("ALOE_BENCH_DATA_DIR", str(aloe_data_dir))
    host = PluginHost(load_entrypoints=False, extra_plugins={"shout": _module_from_doc()})
    assert "shout" in host.models and "exclamations" in host.metrics
    cfg = EvalConfig(model="shout:loud", user="shout:u", judge="shout:j", turns=2, limit=2, cache=False,
                     bootstrap=0)
    summary = asyncio.run(Evaluation(cfg, tmp_path / "run", host).run())
    # the shouting judge never answers with a score: every reply is missing, never a number
    assert summary.n == [0, 0] and summary.missing == [2, 2]
    assert "with_bang" in summary.extra["exclamations"]
