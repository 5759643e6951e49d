"""The third-party trainer of docs/training.md, written out from the page, pip-installed outside
the repository and used through the commands of its "Try the trainer" block: registered through
``aloe_register_trainers``, listed by ``aloe-bench train --help``, its typed config printed, run with
a preset and ``--set``, and its output evaluated by ``aloe-bench evaluate``."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "training.md"
FILE_BLOCK = re.compile(r"^<!-- file: (\S+) -->\n```[\w-]*\n(.*?)^```[ \t]*$", re.M | re.S)

pytest.importorskip("aloe_bench_hf", reason="the example builds tiny models with the hf plugin")


def try_commands(text: str) -> list[list[str]]:
    """The commands of the bash block under "Try the trainer"."""
    section = text.split("### Try the trainer", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    joined = re.sub(r"\\\n\s*", " ", block)
    return [shlex.split(line, comments=True) for line in joined.splitlines() if shlex.split(line, comments=True)]


@pytest.fixture(scope="module")
def tried(tmp_path_factory):
    """Write, install and try the documented trainer once."""
    text = DOC.read_text(encoding="utf-8")
    files = {path: body for path, body in FILE_BLOCK.findall(text)}
    base = tmp_path_factory.mktemp("docs-trainer")
    assert ROOT not in base.resolve().parents
    dist = base / "aloe-bench-soup"
    for path, body in files.items():
        (dist / path).parent.mkdir(parents=True, exist_ok=True)
        (dist / path).write_text(body, encoding="utf-8")
    site = base / "site"
    env = {k: v for k, v in os.environ.items() if k != "ALOE_BENCH_DATA_DIR"}
    env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", ALOE_BENCH_CACHE_DIR=str(base / "cache"), COLUMNS="200",
               HF_HUB_OFFLINE="1", LITELLM_LOCAL_MODEL_COST_MAP="True",
               PYTHONPATH=os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH", "")])))
    install = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                              "--no-compile", "--target", str(site), str(dist)], cwd=base, env=env,
                             capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stderr
    steps = []
    for cmd in try_commands(text):
        if cmd[0] in ("cd", "pip"):
            continue
        argv = {"aloe-bench": [sys.executable, "-m", "aloe_bench"], "python": [sys.executable]}[cmd[0]] + cmd[1:]
        proc = subprocess.run(argv, cwd=dist, env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, f"{shlex.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}"
        steps.append((cmd, proc))
    return {"files": files, "dist": dist, "env": env, "steps": steps}


def _out(tried, *prefix: str) -> str:
    return "".join(p.stdout for cmd, p in tried["steps"] if tuple(cmd[:len(prefix)]) == prefix)


def test_the_page_holds_a_whole_trainer_distribution(tried):
    assert {"pyproject.toml", "aloe_bench_soup/plugin.py", "aloe_bench_soup/trainer.py"} <= set(tried["files"])
    assert 'soup = "aloe_bench_soup.plugin"' in tried["files"]["pyproject.toml"]
    assert [cmd[:3] for cmd, _ in tried["steps"]].count(["aloe-bench", "train", "soup"]) == 2


def test_the_trainer_is_registered_listed_and_typed(tried):
    assert "soup" in _out(tried, "aloe-bench", "train", "--help") and "Registered trainers" in \
        _out(tried, "aloe-bench", "train", "--help")
    shown = _out(tried, "aloe-bench", "train", "soup", "--show-config")
    assert "SoupConfig" in shown and "first-heavy" in shown and "# weights = ..." in shown
    proc = subprocess.run([sys.executable, "-m", "aloe_bench", "plugins", "--json"], cwd=tried["dist"],
                          env=tried["env"], capture_output=True, text=True, timeout=120)
    [soup] = [p for p in json.loads(proc.stdout)["plugins"] if p["name"] == "soup"]
    assert soup["registered"] == {"trainers": ["soup"]} and soup["builtin"] is False


def test_the_preset_and_set_reach_the_trainer_and_its_output_is_evaluated(tried):
    from safetensors.torch import load_file

    dist = tried["dist"]
    record = json.loads((dist / "soup" / "train.json").read_text())
    assert record["weights"] == [0.75, 0.25] and record["config"]["models"] == ["hf:a", "hf:b"]
    a, b, soup = (load_file(dist / name / "model.safetensors") for name in ("a", "b", "soup"))
    key = next(iter(soup))
    assert (soup[key] - (0.75 * a[key] + 0.25 * b[key])).abs().max() < 1e-6
    assert "Trained: status complete" in _out(tried, "aloe-bench", "train", "soup")
    summary = json.loads((dist / "runs" / "soup" / "summary.json").read_text())
    assert summary["status"] == "complete" and summary["model"] == "hf:soup"


def test_a_bad_key_is_a_one_line_error(tried):
    proc = subprocess.run([sys.executable, "-m", "aloe_bench", "train", "soup", "--set", "weight=[1,2]"],
                          cwd=tried["dist"], env=tried["env"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "Unknown setting 'weight'. Did you mean: weights?" in proc.stderr
    assert "Traceback" not in proc.stderr
