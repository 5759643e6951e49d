"""Meta-tests that keep the plugin surface honest: every hook documented, exercised, docs fresh."""

import inspect
import os
import sys
from pathlib import Path

from aloe_bench import hookspecs

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import gen_docs  # noqa: E402

HOOKS = [n for n, f in inspect.getmembers(hookspecs, inspect.isfunction) if n.startswith("aloe_")]


def test_every_hook_has_a_docstring():
    for name in HOOKS:
        doc = getattr(hookspecs, name).__doc__ or ""
        assert len(doc.strip()) > 40, f"{name} needs a docstring that says what is passed and returned"


def test_every_hook_is_documented_in_plugin_hooks_md():
    text = (ROOT / "docs" / "plugin_hooks.md").read_text()
    for name in HOOKS:
        assert f"## `{name}`" in text, f"{name} missing from docs/plugin_hooks.md"


def test_every_hook_is_exercised_by_a_test():
    """Each hook is implemented by the fake plugin, and a test asserts on what it registered/did."""
    fake = (ROOT / "tests" / "fake_plugin" / "aloe_bench_fake" / "plugin.py").read_text()
    tests = "\n".join(p.read_text() for p in (ROOT / "tests").glob("test_*.py"))
    evidence = {
        "aloe_register_models": '"fake" in host.models',
        "aloe_register_simulators": '"--user-protocol", "fake-sim"',
        "aloe_register_judges": '"fake-constant" in host.judges',
        "aloe_register_metrics": '"fake_turns"',
        "aloe_register_persona_sources": '"fake" in host.persona_sources',
        "aloe_register_trainers": '"fake-trainer"',
        "aloe_register_reporters": '"fake-format"',
        "aloe_register_embedders": '"fake-hash"',
        "aloe_register_commands": '"fake-hello"',
        "aloe_on_event": '"RunStarted"',
    }
    assert set(evidence) == set(HOOKS), "add evidence for new hooks here"
    for name in HOOKS:
        assert f"def {name}(" in fake, f"the fake plugin does not implement {name}"
        assert evidence[name] in tests, f"no test exercises {name}"


def test_generated_docs_are_fresh():
    os.environ["COLUMNS"] = "100"
    assert (ROOT / "docs" / "plugin_hooks.md").read_text() == gen_docs.hooks_markdown(), \
        "run: python scripts/gen_docs.py"
    assert (ROOT / "docs" / "cli.md").read_text() == gen_docs.cli_markdown(), "run: python scripts/gen_docs.py"


def test_docs_exist():
    for name in ("quickstart.md", "plugin_hooks.md", "writing_plugins.md", "results_format.md", "metrics.md",
                 "cli.md"):
        assert (ROOT / "docs" / name).is_file(), name
