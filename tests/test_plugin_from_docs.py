"""The done-when test of docs/writing_plugins.md: its worked example, written out from the page,
pip-installed outside the repository and used the way a plugin author would.

Every fenced block preceded by ``<!-- file: PATH -->`` becomes ``PATH`` of a fresh distribution in a
temporary folder. It is installed into a private folder (``--target``, like the fake plugin of
conftest.py) that subprocesses see through PYTHONPATH. Then the commands of the page's "Try it"
block run offline (the plugin's model, protocols, metric and persona source with the built-in
``scripted`` backend and ``sample`` personas; the leaderboard in the plugin's format), and the
plugin's own tests (also from the page) run in a pytest subprocess. No ALOE data files are used.
"""

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
DOC = ROOT / "docs" / "writing_plugins.md"

#: A file of the worked example: the marker line, then a fenced block.
FILE_BLOCK = re.compile(r"^<!-- file: (\S+) -->\n```[\w-]*\n(.*?)^```[ \t]*$", re.M | re.S)

#: What the worked example registers: one component of every kind a plugin author extends.
REGISTERED = {"models": ["parrot"], "judges": ["lenient", "shorter-wins"], "simulators": ["profile-facts"],
              "metrics": ["question_rate"], "reporters": ["plain"], "persona_sources": ["csv"],
              "generation_protocols": ["brief"]}


def doc_files(text: str) -> dict[str, str]:
    """PATH -> content of every marked block of ``text``; a path given twice is an error."""
    files: dict[str, str] = {}
    for path, body in FILE_BLOCK.findall(text):
        assert path not in files, f"{path} appears twice in {DOC.name}"
        assert not Path(path).is_absolute() and ".." not in Path(path).parts, path
        files[path] = body
    return files


def try_it_commands(text: str) -> list[list[str]]:
    """The commands of the bash block under the "Try it" heading, continuation lines joined."""
    section = text.split("### Try it", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    joined = re.sub(r"\\\n\s*", " ", block)
    return [shlex.split(line, comments=True) for line in joined.splitlines() if shlex.split(line, comments=True)]


def _run(cmd: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=180)


@pytest.fixture(scope="module")
def tried(tmp_path_factory):
    """Write, install and try the documented plugin once; returns what every step produced."""
    text = DOC.read_text(encoding="utf-8")
    files = doc_files(text)
    base = tmp_path_factory.mktemp("docs-plugin")
    assert ROOT not in base.resolve().parents  # a fresh distribution outside the repository
    dist = base / "aloe-bench-myplugin"
    for path, body in files.items():
        (dist / path).parent.mkdir(parents=True, exist_ok=True)
        (dist / path).write_text(body, encoding="utf-8")
    site = base / "site"
    env = {k: v for k, v in os.environ.items() if k != "ALOE_BENCH_DATA_DIR"}  # no ALOE data needed
    env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", ALOE_BENCH_CACHE_DIR=str(base / "cache"), COLUMNS="200",
               PYTHONPATH=os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH", "")])))
    install = _run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--no-compile", "--target", str(site), str(dist)], base, env)
    assert install.returncode == 0, install.stderr
    steps = []
    for cmd in try_it_commands(text):
        if cmd[0] in ("cd", "pip"):  # the folder is the cwd already; installed above
            continue
        if cmd[0] == "aloe-bench":
            argv = [sys.executable, "-m", "aloe_bench", *cmd[1:]]
        elif cmd[0] == "pytest":
            argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *cmd[1:]]
        else:
            raise AssertionError(f"unexpected command in the Try it block: {cmd}")
        proc = _run(argv, dist, env)
        assert proc.returncode == 0, f"{shlex.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}"
        steps.append((cmd, proc))
    return {"files": files, "dist": dist, "site": site, "env": env, "steps": steps}


def _step(tried, *prefix: str) -> list[subprocess.CompletedProcess]:
    return [proc for cmd, proc in tried["steps"] if tuple(cmd[:len(prefix)]) == prefix]


def test_the_page_holds_a_whole_distribution(tried):
    files = tried["files"]
    assert {"pyproject.toml", "aloe_bench_myplugin/plugin.py", "tests/test_myplugin.py"} <= set(files)
    assert 'myplugin = "aloe_bench_myplugin.plugin"' in files["pyproject.toml"]
    for path, body in files.items():
        if path.endswith(".py"):
            compile(body, path, "exec")  # every documented module is complete Python
    commands = [cmd[:2] for cmd, _ in tried["steps"]]
    assert ["aloe-bench", "plugins"] in commands and ["aloe-bench", "leaderboard"] in commands
    assert sum(cmd == ["aloe-bench", "evaluate"] for cmd in commands) == 2 and ["pytest"] in commands
    assert ["aloe-bench", "generate"] in commands


def test_the_installed_plugin_registers_one_component_of_every_kind(tried):
    proc = _run([sys.executable, "-m", "aloe_bench", "plugins", "--json"], tried["dist"], tried["env"])
    assert proc.returncode == 0, proc.stderr
    [mine] = [p for p in json.loads(proc.stdout)["plugins"] if p["name"] == "myplugin"]
    assert (mine["distribution"], mine["version"], mine["builtin"]) == ("aloe-bench-myplugin", "0.1.0", False)
    assert mine["registered"] == REGISTERED
    assert "myplugin" in _step(tried, "aloe-bench", "plugins")[0].stdout


def test_the_entry_point_module_stays_light(tried):
    code = ("import sys, aloe_bench_myplugin.plugin; "
            "print(sorted(m for m in ('pydantic', 'aloe_bench.components', 'aloe_bench_myplugin.models') "
            "if m in sys.modules))")
    proc = _run([sys.executable, "-c", code], tried["dist"], tried["env"])
    assert proc.returncode == 0 and proc.stdout.strip() == "[]", proc.stdout + proc.stderr


def test_evaluate_runs_every_component_offline(tried):
    runs = tried["dist"] / "runs"
    sample = json.loads((runs / "sample" / "summary.json").read_text())
    assert (sample["status"], sample["personas_source"], sample["personas_count"]) == ("complete", "sample", 4)
    assert sample["n"] == [4, 4] and sample["turns"] == 2
    assert sample["extra"]["question_rate"] == {"per_turn": [1.0, 1.0]}  # parrot asks with question=true
    run = json.loads((runs / "sample" / "run.json").read_text())
    kinds = {c["role"]: c for c in run["components"]}
    assert kinds["model"]["identity"] == {"spec": "parrot", "question": True}
    assert kinds["user"]["kind"] == "profile-facts" and kinds["user"]["spec"] == ""  # needs no backend
    assert kinds["judge"]["kind"] == "lenient" and kinds["judge"]["options"]["bonus"] == 1.0
    assert kinds["judge"]["demo_quality"] is True  # judged by the built-in scripted backend
    first = json.loads((runs / "sample" / "transcripts.jsonl").read_text().splitlines()[0])
    assert first["persona_id"] == "sample-01" and first["user"].startswith("Hi! I am a 27-year-old")
    assert first["reply"] == f"You said: {first['user'].rstrip('.!?')}. Tell me more?"
    scores = [json.loads(line)["score"] for line in (runs / "sample" / "scores.jsonl").read_text().splitlines()]
    assert len(scores) == 8 and all(2.0 <= s <= 5.0 for s in scores)  # scripted 1-5, plus the bonus, capped

    csv_run = json.loads((runs / "csv" / "summary.json").read_text())
    assert csv_run["personas_source"].startswith("csv:") and csv_run["personas_count"] == 2
    assert csv_run["n"] == [2, 2] and csv_run["status"] == "complete"


def test_generate_uses_the_plugins_responder_and_pairwise_judge(tried):
    out = tried["dist"] / "gen" / "sample"
    run = json.loads((out / "run.json").read_text())
    kinds = {c["role"]: c for c in run["components"]}
    assert kinds["unhinted"]["kind"] == "brief" and kinds["unhinted"]["options"]["words"] == 5
    assert kinds["pair_judge"]["kind"] == "shorter-wins" and kinds["pair_judge"]["spec"] == ""  # no backend
    trees = [json.loads(line) for line in (out / "trees.jsonl").read_text().splitlines()]
    assert len(trees) == 4 and all(len(t["unhinted"].split()) <= 5 for t in trees)
    # the shorter (brief) reply wins in both orders: every pair is consistent and labelled
    assert {(t["agreement"], t["chosen"]) for t in trees} == {("consistent", "unhinted")}
    dpo = [json.loads(line) for line in (out / "dpo.jsonl").read_text().splitlines()]
    unhinted = {(t["conversation_id"], t["turn"]): t["unhinted"] for t in trees}
    assert len(dpo) == 4 and all(row["chosen"][0]["content"] == unhinted[row["conversation_id"], row["turn"]]
                                 for row in dpo)


def test_the_leaderboard_renders_in_the_plugins_format(tried):
    [proc] = _step(tried, "aloe-bench", "leaderboard")
    lines = proc.stdout.splitlines()
    ranked = [line for line in lines if re.match(r"^\s+[AB]1\s+parrot\s+avg \d\.\d\d\s+questions \[1\.0, 1\.0\]$", line)]
    assert len(ranked) == 2, proc.stdout
    assert any(line.startswith("note: Not comparable") for line in lines), proc.stdout


def test_the_plugins_own_tests_pass(tried):
    [proc] = _step(tried, "pytest")
    assert re.search(r"\b6 passed\b", proc.stdout) and "skipped" not in proc.stdout, proc.stdout
