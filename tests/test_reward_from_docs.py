"""The rewards section of docs/profile.md, run as a reader would: its third-party ``brevity`` reward
(every ``<!-- file: PATH -->`` block) written out, pip-installed outside the repository and found
through its entry point; its Python examples (every ``<!-- example: NAME -->`` block) run as
scripts, the built-in rewards' judge being an API model reached by litellm over real HTTP on the
project's OpenAI-compatible server, and their output compared with what the page says they print.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from aloe_bench.protocols.coverage import COVERAGE_MARKER
from aloe_bench.protocols.engagement import ENGAGEMENT_MARKER
from aloe_bench.testing.openai_server import OpenAICompatServer, message_text

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "profile.md"
FILE_BLOCK = re.compile(r"^<!-- file: (\S+) -->\n```[\w-]*\n(.*?)^```[ \t]*$", re.M | re.S)
EXAMPLE_BLOCK = re.compile(r"^<!-- example: (\S+) -->\n```python\n(.*?)^```[ \t]*$", re.M | re.S)
API_KEY = "sk-reward-docs-7c1f0e93ab52d468"

#: The judge's knowledge: a golden fact of the page's examples is covered when its keyword is in a
#: profile line.
KEYWORDS = {"Works as a nurse": "nurse", "Lives in Lisbon": "lisbon", "Surfs": "surf", "Has two cats": "cat",
            "Is 34 years old": "34"}


def rewards_section(text: str) -> str:
    """The page's rewards section: from its marker to the next second-level heading."""
    start = text.index("<!-- section: rewards -->")
    end = text.find("\n## ", start)
    return text[start:end if end != -1 else len(text)]


def judge_script(messages):
    """Counts covered facts by keyword; says yes to a reply that asks a question."""
    first = message_text(messages[0])
    if COVERAGE_MARKER in first:
        facts = first.split("Golden facts:", 1)[1].split("inferred profile:", 1)
        golden = re.findall(r"^\d+\. (.*)$", facts[0], re.M)
        inferred = re.findall(r"^- (.*)$", facts[1].split(COVERAGE_MARKER)[0], re.M)
        return str(sum(any(KEYWORDS[g] in line.lower() for line in inferred) for g in golden))
    if ENGAGEMENT_MARKER in first:
        reply = first.split("latest reply:", 1)[1].split(ENGAGEMENT_MARKER, 1)[0]
        return "yes\nIt asks her something." if "?" in reply else "no\nNothing to answer."
    return "?"


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    """The section's distribution written out and installed into a private folder; its examples."""
    section = rewards_section(DOC.read_text(encoding="utf-8"))
    files = dict(FILE_BLOCK.findall(section))
    examples = dict(EXAMPLE_BLOCK.findall(section))
    base = tmp_path_factory.mktemp("docs-reward")
    assert ROOT not in base.resolve().parents  # a fresh distribution outside the repository
    dist = base / "aloe-bench-brevity"
    for path, body in files.items():
        assert not Path(path).is_absolute() and ".." not in Path(path).parts, path
        (dist / path).parent.mkdir(parents=True, exist_ok=True)
        (dist / path).write_text(body, encoding="utf-8")
    site = base / "site"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "ALOE_BENCH_"))}
    env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", ALOE_BENCH_CACHE_DIR=str(base / "cache"), HF_HUB_OFFLINE="1",
               LITELLM_LOCAL_MODEL_COST_MAP="True",
               PYTHONPATH=os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH", "")])))
    install = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                              "--no-compile", "--target", str(site), str(dist)], cwd=base, env=env,
                             capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stderr
    return {"section": section, "files": files, "examples": examples, "dist": dist, "env": env}


@pytest.fixture(scope="module")
def server():
    with OpenAICompatServer(script=judge_script, api_key=API_KEY) as srv:
        yield srv


def run_example(page, server, name: str) -> str:
    """Run one example of the page as a script in the distribution's folder; its standard output."""
    script = page["dist"] / name
    script.write_text(page["examples"][name], encoding="utf-8")
    env = dict(page["env"], OPENAI_API_BASE=server.base_url, OPENAI_API_KEY=API_KEY)
    proc = subprocess.run([sys.executable, str(script)], cwd=page["dist"], env=env, capture_output=True, text=True,
                          timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and API_KEY not in proc.stdout + proc.stderr
    return proc.stdout


def test_the_section_holds_a_whole_distribution_and_its_examples(page):
    assert set(page["files"]) == {"pyproject.toml", "aloe_bench_brevity/__init__.py", "aloe_bench_brevity/plugin.py",
                                  "aloe_bench_brevity/reward.py"}
    assert 'brevity = "aloe_bench_brevity.plugin"' in page["files"]["pyproject.toml"]
    assert set(page["examples"]) == {"score.py", "trl_reward.py", "try_brevity.py"}
    for path, body in {**page["files"], **page["examples"]}.items():
        if path.endswith(".py"):
            compile(body, path, "exec")


def test_the_installed_reward_is_listed_and_its_entry_point_stays_light(page):
    proc = subprocess.run([sys.executable, "-m", "aloe_bench", "plugins", "--json"], cwd=page["dist"],
                          env=page["env"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    [mine] = [p for p in json.loads(proc.stdout)["plugins"] if p["name"] == "brevity"]
    assert (mine["distribution"], mine["version"], mine["registered"]) == \
        ("aloe-bench-brevity", "0.1.0", {"rewards": ["brevity"]})
    code = ("import sys, aloe_bench_brevity.plugin; "
            "print(sorted(m for m in ('pydantic', 'aloe_bench.components', 'aloe_bench_brevity.reward') "
            "if m in sys.modules))")
    light = subprocess.run([sys.executable, "-c", code], cwd=page["dist"], env=page["env"], capture_output=True,
                           text=True, timeout=60)
    assert light.returncode == 0 and light.stdout.strip() == "[]", light.stderr


def test_the_brevity_example_prints_what_the_page_says(page, server):
    out = run_example(page, server, "try_brevity.py")
    promised = re.search(r"which prints `(.*?)`", page["section"]).group(1)
    assert out.strip() == promised


def test_the_builtin_rewards_example_prints_what_the_page_says(page, server):
    server.reset()
    out = run_example(page, server, "score.py")
    promised = re.search(r"This prints, .*?\n\n```\n(.*?)```", page["section"], re.S).group(1)
    assert out == promised
    # one coverage call (the malformed output needs none) and one engagement call, over HTTP
    assert len(server.chat_requests(COVERAGE_MARKER)) == 1 and len(server.chat_requests(ENGAGEMENT_MARKER)) == 1
    assert all(r["had_auth"] for r in server.chat_requests())


def test_the_trl_reward_function_example_runs(page, server):
    out = run_example(page, server, "trl_reward.py")
    # one of three golden facts in a one-line profile: precision 1, recall 1/3, F1 0.5; and a question
    assert out.strip() == "[1.5]"
