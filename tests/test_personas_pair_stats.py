"""Pairing pools into persona sets, diversity statistics, and the project's seed files."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from aloe_bench.errors import ConfigError
from aloe_bench.personas import load_personas, official
from aloe_bench.personas.pair import pair_personas
from aloe_bench.personas.pool import PoolEntry, project_seeds, read_entries
from aloe_bench.personas.stats import nearest_neighbours, similarity_stats


def entries(prefix, n):
    return [PoolEntry(id=f"{prefix}-{i:02d}", text=f"{prefix} text number {i}") for i in range(n)]


def run_cli(args):
    from click.testing import CliRunner

    from aloe_bench.cli import cli

    return CliRunner().invoke(cli, args, catch_exceptions=False)


@pytest.fixture(scope="session")
def minilm():
    from aloe_bench.plugins import PluginHost

    host = PluginHost()
    if "minilm" not in host.embedders:
        pytest.skip("aloe-bench-hf (embedders) is not installed")
    return host.embedders.get("minilm").factory()


# -- pair ----------------------------------------------------------------------------------------

def test_pairing_draws_distinct_personalities_with_stable_ids():
    profiles, pers = entries("prof", 6), entries("pers", 12)
    personas = pair_personas(profiles, pers, per_profile=4, seed=7)
    assert len(personas) == 24 and len({p.id for p in personas}) == 24
    order = [q.id for q in pers]
    for i, prof in enumerate(profiles):
        mine = personas[4 * i:4 * i + 4]
        assert all(p.profile == prof.text for p in mine)
        drawn = [p.id.split("+")[1] for p in mine]
        assert len(set(drawn)) == 4 and drawn == sorted(drawn, key=order.index)
    assert [p.id for p in pair_personas(profiles, pers, per_profile=4, seed=7)] == [p.id for p in personas]
    assert [p.id for p in pair_personas(profiles, pers, per_profile=4, seed=8)] != [p.id for p in personas]
    # the draws spread over the personality pool rather than repeating the same few
    assert len({p.personality for p in personas}) >= 9


def test_growing_the_personality_pool_keeps_earlier_draws_unless_outranked():
    profiles, pers = entries("prof", 10), entries("pers", 20)
    before = pair_personas(profiles, pers, per_profile=5, seed=1)
    more = pers + entries("new", 5)
    after = pair_personas(profiles, more, per_profile=5, seed=1)
    old_ids = {p.id for p in before}
    for p in after:  # every persona is either an earlier one or uses a new personality
        assert p.id in old_ids or p.id.split("+")[1].startswith("new-")
    assert len(old_ids & {p.id for p in after}) >= 30
    # reordering either pool changes nothing but the order
    assert {p.id for p in pair_personas(profiles[::-1], pers[::-1], per_profile=5, seed=1)} == old_ids


def test_pairing_rejects_impossible_requests():
    with pytest.raises(ConfigError, match="exceeds the 3 personalities"):
        pair_personas(entries("a", 2), entries("b", 3), per_profile=4)
    with pytest.raises(ConfigError, match="Duplicate profile id"):
        pair_personas(entries("a", 2) * 2, entries("b", 3), per_profile=1)


def test_cli_pair_writes_a_persona_set_the_jsonl_source_reads(tmp_path, aloe_data_dir):
    out = tmp_path / "set.jsonl"
    res = run_cli(["personas", "pair", "--profiles", str(project_seeds("profile")),
                   "--personalities", str(aloe_data_dir / "personality_eval.jsonl"),  # official string format
                   "--per-profile", "3", "--seed", "5", "-o", str(out)])
    assert res.exit_code == 0, res.output
    personas = load_personas(f"jsonl:{out}")
    assert len(personas) == 60
    assert personas[0].id.startswith("seed-profile-01+personality_eval-")
    official_texts = official.read_json_strings(aloe_data_dir / "personality_eval.jsonl")
    assert all(p.personality in official_texts for p in personas)
    again = run_cli(["personas", "pair", "--profiles", str(project_seeds("profile")),
                     "--personalities", str(aloe_data_dir / "personality_eval.jsonl"),
                     "--per-profile", "3", "--seed", "5"])
    assert [json.loads(line)["id"] for line in again.output.splitlines()] == [p.id for p in personas]
    bad = run_cli(["personas", "pair", "--profiles", str(project_seeds("profile")),
                   "--personalities", str(aloe_data_dir / "personality_eval.jsonl"), "--per-profile", "8"])
    assert bad.exit_code == 2 and "exceeds the 7 personalities" in bad.output


# -- stats ---------------------------------------------------------------------------------------

def test_nearest_neighbours_match_brute_force_across_chunks():
    rng = np.random.default_rng(3)
    vecs = rng.normal(size=(50, 8)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    sims, idx = nearest_neighbours(vecs, chunk=7)
    full = vecs @ vecs.T
    np.fill_diagonal(full, -np.inf)
    assert np.array_equal(idx, full.argmax(1)) and np.allclose(sims, full.max(1))


def test_stats_report_size_similarity_and_histogram(minilm):
    seeds = read_entries(project_seeds("profile"))
    ids = [e.id for e in seeds] + ["copy"]
    texts = [e.text for e in seeds] + [seeds[4].text.replace("Toronto", "Ottawa")]
    st = similarity_stats(ids, texts, minilm.encode(texts))
    assert st["size"] == 21 and sum(b["count"] for b in st["histogram"]) == 21
    assert st["closest_pair"]["a"] in ("copy", "seed-profile-05") and st["closest_pair"]["b"] in ("copy", "seed-profile-05")
    assert st["max_nn"] > 0.95 and st["min_nn"] <= st["mean_nn"] <= st["max_nn"]
    assert similarity_stats(ids[:1], texts[:1], minilm.encode(texts[:1]))["mean_nn"] is None


def test_cli_stats_on_a_pool_file_and_a_persona_source(aloe_data_dir, monkeypatch, minilm):
    monkeypatch.setenv("ALOE_BENCH_DATA_DIR", str(aloe_data_dir))
    res = run_cli(["personas", "stats", str(project_seeds("personality")), "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    group = data["groups"]["text"]
    assert data["embedder"] == "minilm" and group["size"] == 20 and 0 < group["mean_nn"] < group["max_nn"] < 1
    res = run_cli(["personas", "stats", "aloe-eval", "--json"])
    groups = json.loads(res.output)["groups"]
    assert groups["profile"]["size"] == 20 and groups["personality"]["size"] == 5
    table = run_cli(["personas", "stats", str(project_seeds("profile"))])
    assert "[text]: 20 texts" in table.output and "closest pair" in table.output


def test_cli_stats_prints_mean_min_and_max(tmp_path, monkeypatch):
    """The table output names all three figures of the nearest-neighbour similarity (the docs
    promise the minimum too), with a stand-in embedder: no model needed."""
    import types

    from aloe_bench.personas import pool

    vectors = {"a": [1.0, 0.0], "b": [0.8, 0.6], "c": [0.0, 1.0]}  # nn: a 0.8, b 0.8, c 0.6
    fake = types.SimpleNamespace(name="fake", encode=lambda texts: np.array([vectors[t] for t in texts]))
    monkeypatch.setattr(pool, "resolve_embedder", lambda spec, host: fake)
    path = tmp_path / "pool.jsonl"
    path.write_text("".join(json.dumps({"id": k, "text": k}) + "\n" for k in vectors))
    res = run_cli(["personas", "stats", str(path)])
    assert res.exit_code == 0, res.output
    assert "3 texts; nearest-neighbour similarity mean 0.733, min 0.600, max 0.800 (fake)" in res.output
    data = json.loads(run_cli(["personas", "stats", str(path), "--json"]).output)["groups"]["text"]
    assert (data["mean_nn"], data["min_nn"], data["max_nn"]) == (0.7333, 0.6, 0.8)


# -- the project's seeds -------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["profile", "personality"])
def test_seeds_are_twenty_own_third_person_texts(kind, aloe_data_dir):
    seeds = read_entries(project_seeds(kind))
    assert len(seeds) == 20 and [e.id for e in seeds] == [f"seed-{kind}-{i:02d}" for i in range(1, 21)]
    assert all(re.match(r"(He|She|They) (is|are) ", e.text) for e in seeds)
    if kind == "personality":  # traits only: no ages or jobs
        assert not any(re.search(r"\d+-year-old", e.text) for e in seeds)
        # 8-10 traits make one paragraph of this length
        assert all(40 <= len(e.text.split()) <= 70 for e in seeds)
    else:
        assert all(re.search(r"\d+-year-old", e.text) for e in seeds)
    # written for this project: no run of 8 words in common with any official ALOE text (runs of 6
    # occur, all stock phrases such as "he is a 58-year-old taxi driver")
    def grams(text):
        words = re.findall(r"[a-z0-9'-]+", text.lower())
        return {tuple(words[i:i + 8]) for i in range(len(words) - 7)}

    aloe = set()
    for name in official.FILES:
        for text in official.read_json_strings(aloe_data_dir / name):
            aloe |= grams(text)
    shared = [e.id for e in seeds if grams(e.text) & aloe]
    assert not shared
