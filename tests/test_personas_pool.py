"""Persona-pool growth: candidate splitting, the incremental embedding filter (against the
published re-encoding approach), threshold behaviour, resume, eval-leak rejection, and the CLI
through litellm and the local OpenAI-compatible server. Real MiniLM embeddings throughout."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest

from aloe_bench.errors import AloeBenchError, ConfigError
from aloe_bench.personas import official
from aloe_bench.personas.pool import (
    EmbeddingMatrix, GrowConfig, PersonaPool, PoolGrower, filter_candidates, leak_reference, pool_paths,
    project_seeds, read_entries, split_candidates,
)
from aloe_bench.backends.resolve import resolve_model

SEEDS = project_seeds("profile")

#: Profiles far from the seeds (max similarity < 0.6 under MiniLM) and from one another.
NOVEL = [
    "He is a 71-year-old beekeeper in the Carpathian foothills who sells honey at the Sunday market in Cluj and repairs clocks in winter.",
    "They are a 24-year-old esports commentator in Busan who streams rhythm games at night and lives above a fried-chicken shop.",
    "He is a 46-year-old submarine cable engineer based in Perth who spends months at sea and builds ship models in bottles.",
    "She is an 88-year-old retired midwife in Kerala who grows pepper vines, reads Malayalam poetry, and has nine great-grandchildren.",
    "He is a 12-year-old chess prodigy in Yerevan who trains four hours a day and collects Soviet-era stamps with his grandfather.",
]


def seed_text(i: int) -> str:
    return read_entries(SEEDS)[i].text


def near_copies() -> list[str]:
    """Light rewrites of seed profiles (similarity > 0.85)."""
    return [seed_text(2).replace("34-year-old", "35-year-old").replace("Valencia", "Seville"),
            "He is a 34-year-old sous chef at a tapas bar in Valencia who rides a Vespa to work, plays five-a-side "
            "football and wants to open a food truck with his girlfriend and their greyhound."]


def numbered(texts) -> str:
    return "Here are the new profiles:\n\n" + "\n".join(f"{i}. {t}" for i, t in enumerate(texts, 1))


class QueueScript:
    """Answers each generator call with the next batch; an exception in the queue is raised."""

    def __init__(self, batches):
        self.batches = list(batches)
        self.prompts: list[str] = []

    def __call__(self, messages):
        self.prompts.append(messages[-1]["content"] if isinstance(messages[-1], dict) else messages[-1].content)
        if not self.batches:
            raise AssertionError("generator called more often than scripted")
        item = self.batches.pop(0)
        if isinstance(item, BaseException):
            raise item
        return item if isinstance(item, str) else numbered(item)


class MemoEmbedder:
    """The real embedder with a per-session memo of text -> vector: the tests encode the same
    seed and eval texts many times, and their vectors do not change."""

    def __init__(self, inner):
        self.inner = inner
        self.name = inner.name
        self.memo: dict[str, np.ndarray] = {}

    def encode(self, texts):
        missing = list(dict.fromkeys(t for t in texts if t not in self.memo))
        if missing:
            self.memo.update(zip(missing, self.inner.encode(missing)))
        return np.stack([self.memo[t] for t in texts]) if texts else np.zeros((0, 384), np.float32)


@pytest.fixture(scope="session")
def minilm():
    """The real default embedder (all-MiniLM-L6-v2 through the plugin registry), loaded once."""
    from aloe_bench.plugins import PluginHost

    host = PluginHost()
    if "minilm" not in host.embedders:
        pytest.skip("aloe-bench-hf (embedders) is not installed")
    return MemoEmbedder(host.embedders.get("minilm").factory())


def generator(host, script):
    return resolve_model("scripted:gen", host, script=script)


def grow(pool, gen, **cfg):
    leak = cfg.pop("leak", None)
    config = GrowConfig(kind="profile", **{"batch": 5, "max_rounds": 10, **cfg})
    grower = PoolGrower(pool, gen, config, leak_texts=leak[0] if leak else None, leak_ids=leak[1] if leak else None)
    return asyncio.run(grower.grow())


def reference_filter(pool_texts, candidates, threshold, model):
    """The published approach: re-encode the whole pool for every candidate."""
    pool_texts = list(pool_texts)
    accepted = []
    for cand in candidates:
        vecs = model.encode(pool_texts + [cand])
        if float((vecs[:-1] @ vecs[-1]).max()) <= threshold:
            pool_texts.append(cand)
            accepted.append(cand)
    return accepted


# -- splitting -----------------------------------------------------------------------------------

def test_split_candidates_handles_lists_json_paragraphs_and_noise():
    answer = ("Sure! Here are 4 new profiles:\n\n```\n1. **Profile 1:** \"She is a 30-year-old pilot who flies cargo "
              "planes across the Pacific.\"\n2) He is a 50-year-old rice farmer in Vietnam\n   who lives with his "
              "mother and two dogs.\n3. too short to be a persona\n- They are a student of film in Paris who keeps a "
              "cat named Oscar.\n4. He is a 50-year-old rice farmer in Vietnam who lives with his mother and two "
              "dogs.\n```")
    assert split_candidates(answer) == [
        "She is a 30-year-old pilot who flies cargo planes across the Pacific.",
        "He is a 50-year-old rice farmer in Vietnam who lives with his mother and two dogs.",
        "They are a student of film in Paris who keeps a cat named Oscar.",
    ]
    assert split_candidates('["She is a 30-year-old pilot who flies cargo planes across the Pacific.", 7]') == [
        "She is a 30-year-old pilot who flies cargo planes across the Pacific."]
    paragraphs = NOVEL[0] + "\n\n" + NOVEL[1] + "\n"
    assert split_candidates(paragraphs) == NOVEL[:2]
    assert split_candidates("") == [] and split_candidates("I cannot help with that.") == []


# -- the embedding matrix and the filter ---------------------------------------------------------

def test_embedding_matrix_grows_past_capacity_and_matches_brute_force():
    rng = np.random.default_rng(0)
    rows = rng.normal(size=(300, 16)).astype(np.float32)
    m = EmbeddingMatrix(16, rows[:3], capacity=4)
    for chunk in np.array_split(rows[3:], 37):
        m.add(chunk)
    unit = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    assert len(m) == 300 and np.allclose(m.array, unit, atol=1e-6)
    q = rng.normal(size=16).astype(np.float32)
    q /= np.linalg.norm(q)
    sim, idx = m.max_similarity(q)
    assert idx == int(np.argmax(unit @ q)) and sim == pytest.approx(float((unit @ q).max()), abs=1e-6)
    assert EmbeddingMatrix(16).max_similarity(q) == (float("-inf"), -1)


def test_incremental_filter_matches_reencoding_reference(minilm):
    pool_texts = [e.text for e in read_entries(SEEDS)]
    candidates = [NOVEL[0], near_copies()[0], NOVEL[1], NOVEL[0], NOVEL[2], near_copies()[1], NOVEL[3]]
    pool = EmbeddingMatrix(384, minilm.encode(pool_texts))
    ids = [f"p{i}" for i in range(len(pool_texts))]
    decisions = filter_candidates(candidates, minilm.encode(candidates), pool, ids, 0.6)
    accepted = [d.text for d in decisions if d.accepted]
    assert accepted == reference_filter(pool_texts, candidates, 0.6, minilm)
    assert accepted == [NOVEL[0], NOVEL[1], NOVEL[2], NOVEL[3]]
    # the repeat of NOVEL[0] in the same batch is caught by the copy accepted a moment before
    repeat = decisions[3]
    assert not repeat.accepted and repeat.reason == "duplicate" and repeat.nearest == decisions[0].id
    assert repeat.similarity > 0.99
    assert decisions[1].reason == "duplicate" and decisions[1].nearest == "p2"
    assert len(pool) == len(pool_texts) + 4 and ids[-4:] == [d.id for d in decisions if d.accepted]


@pytest.mark.parametrize("threshold", [0.45, 0.6, 0.99])
def test_threshold_decides_on_highest_similarity(minilm, threshold):
    pool_texts = [e.text for e in read_entries(SEEDS)]
    candidates = NOVEL + near_copies()
    pool = EmbeddingMatrix(384, minilm.encode(pool_texts))
    decisions = filter_candidates(candidates, minilm.encode(candidates), pool, list(pool_texts), threshold)
    for d in decisions:
        assert d.accepted == (d.similarity <= threshold)
    assert [d.text for d in decisions if d.accepted] == reference_filter(pool_texts, candidates, threshold, minilm)
    n = sum(d.accepted for d in decisions)
    assert {0.45: n < len(NOVEL), 0.6: n == len(NOVEL), 0.99: n == len(candidates)}[threshold]


# -- growth with the scripted provider -----------------------------------------------------------

def test_grow_until_target_writes_pool_embeddings_and_state(tmp_path, aloe_host, minilm):
    script = QueueScript([NOVEL[:2] + near_copies()[:1], NOVEL[2:]])
    pool = PersonaPool(tmp_path / "p.jsonl", "profile", minilm, seeds=SEEDS)
    result = grow(pool, generator(aloe_host, script), target=24, batch=3, shots=5)
    assert result.stop_reason == "target" and result.pool_size == 24 and result.rounds_run == 2
    entries = read_entries(tmp_path / "p.jsonl")
    assert [e.text for e in entries[20:]] == NOVEL[:4]  # NOVEL[4] not needed: the target stops round 2
    assert [e.id for e in entries[20:]] == ["profile-0021", "profile-0022", "profile-0023", "profile-0024"]
    assert [e.round for e in entries] == [0] * 20 + [1, 1, 2, 2]
    assert all(e.max_sim is not None and e.max_sim <= 0.6 for e in entries[20:])
    _, emb, state_path = pool_paths(tmp_path / "p.jsonl")
    matrix = np.load(emb)
    assert matrix.shape == (24, 384) and np.allclose(matrix, minilm.encode([e.text for e in entries]), atol=1e-5)
    state = json.loads(state_path.read_text())
    assert [r["accepted"] for r in state["rounds"]] == [2, 2]
    assert state["rounds"][0]["candidates"] == 3 and state["rounds"][0]["rejected_duplicate"] == 1
    assert state["embedder"] == "minilm" and state["prompt_hash"]
    # the prompt shows 5 pool entries and asks for the batch size
    first = script.prompts[0]
    assert "Write 3 new profiles" in first
    assert sum(e.text in first for e in entries[:20]) == 5
    assert script.prompts[0] != script.prompts[1]  # a fresh example draw each round


def test_bottleneck_stops_growth(tmp_path, aloe_host, minilm):
    script = QueueScript([near_copies(), [NOVEL[0]] + near_copies(), near_copies(), near_copies(), near_copies()])
    pool = PersonaPool(tmp_path / "p.jsonl", "profile", minilm, seeds=SEEDS)
    result = grow(pool, generator(aloe_host, script), floor=0.2, patience=2)
    # round 2 accepts 1 of 3 (33% >= floor), so only rounds 3 and 4 make the streak
    assert result.stop_reason == "bottleneck" and result.rounds_run == 4 and result.pool_size == 21
    assert len(script.batches) == 1


def test_resume_after_interruption_gives_the_same_pool(tmp_path, aloe_host, minilm):
    batches = [[NOVEL[0]], [NOVEL[1], near_copies()[0]], [NOVEL[2]], [NOVEL[3], NOVEL[4]]]
    full = PersonaPool(tmp_path / "full.jsonl", "profile", minilm, seeds=SEEDS)
    full_script = QueueScript(batches)
    grow(full, generator(aloe_host, full_script), max_rounds=4)

    first = QueueScript(batches[:2] + [RuntimeError("killed")])
    pool = PersonaPool(tmp_path / "p.jsonl", "profile", minilm, seeds=SEEDS)
    with pytest.raises(RuntimeError, match="killed"):
        grow(pool, generator(aloe_host, first), max_rounds=4)
    assert len(read_entries(tmp_path / "p.jsonl")) == 22

    second = QueueScript(batches[2:])
    resumed = PersonaPool(tmp_path / "p.jsonl", "profile", minilm)
    assert resumed.reencoded == 0 and resumed.rounds_done == 2
    result = grow(resumed, generator(aloe_host, second), max_rounds=4)
    assert result.rounds_run == 2 and not second.batches
    assert read_entries(tmp_path / "p.jsonl") == read_entries(tmp_path / "full.jsonl")
    # the resumed rounds saw the same examples as the uninterrupted ones
    assert second.prompts == full_script.prompts[2:]
    # rerunning a finished growth does nothing
    again = QueueScript([])
    assert grow(PersonaPool(tmp_path / "p.jsonl", "profile", minilm), generator(aloe_host, again),
                max_rounds=4).rounds_run == 0


def test_resume_cuts_torn_line_recovers_round_and_reencodes_only_missing(tmp_path, aloe_host, minilm):
    path = tmp_path / "p.jsonl"
    pool = PersonaPool(path, "profile", minilm, seeds=SEEDS)
    grow(pool, generator(aloe_host, QueueScript([[NOVEL[0]]])), max_rounds=1)
    _, emb, state_path = pool_paths(path)
    # a kill after round 2's entries reached the pool but before its cache and state were written,
    # plus a kill in the middle of writing a third line
    with path.open("a") as fh:
        fh.write(json.dumps({"id": "profile-0022", "text": NOVEL[1], "round": 2}) + "\n")
        fh.write('{"id": "profile-0023", "text": "He is a 5')
    with pytest.warns(UserWarning, match="torn"):
        resumed = PersonaPool(path, "profile", minilm)
    assert [e.id for e in resumed.entries[-2:]] == ["profile-0021", "profile-0022"]
    assert resumed.reencoded == 1  # only the recovered row
    assert resumed.rounds_done == 2 and resumed.state.rounds[-1].recovered
    assert resumed.state.rounds[-1].acceptance_rate is None
    assert np.load(emb).shape == (22, 384)

    # a cache computed by another embedder, or for other texts, is rebuilt completely
    state = json.loads(state_path.read_text())
    state_path.write_text(json.dumps({**state, "embedder": "other"}))
    assert PersonaPool(path, "profile", minilm).reencoded == 22
    lines = path.read_text().splitlines()
    lines[0] = json.dumps({"id": "seed-profile-01", "text": NOVEL[4]})
    path.write_text("\n".join(lines) + "\n")
    assert PersonaPool(path, "profile", minilm).reencoded == 22
    with pytest.raises(ConfigError, match="profile pool"):
        PersonaPool(path, "personality", minilm)


def test_generator_failure_is_an_error_and_keeps_the_pool(tmp_path, aloe_host, minilm):
    gen = resolve_model("scripted:gen", aloe_host, fail=lambda messages: "HTTP 500")
    pool = PersonaPool(tmp_path / "p.jsonl", "profile", minilm, seeds=SEEDS)
    with pytest.raises(AloeBenchError, match="failed 3 times"):
        grow(pool, gen)
    assert gen.calls == 3 and len(read_entries(tmp_path / "p.jsonl")) == 20


def leak_candidate() -> str:
    """An ALOE eval profile with light edits (read from the official file at test time)."""
    text = official.read_json_strings(official.data_file("profile_eval.jsonl"))[3]
    return text.replace(" is a ", " is an easygoing ", 1) + " Lately this keeps them busy."


def test_candidates_close_to_eval_personas_are_rejected(tmp_path, aloe_host, minilm):
    leak = leak_reference("profile")
    assert len(leak[0]) == 20
    script = QueueScript([[NOVEL[0], leak_candidate(), NOVEL[1]]])
    pool = PersonaPool(tmp_path / "p.jsonl", "profile", minilm, seeds=SEEDS)
    grow(pool, generator(aloe_host, script), max_rounds=1, leak=leak, threshold=0.8)
    texts = [e.text for e in read_entries(tmp_path / "p.jsonl")]
    assert leak_candidate() not in texts and NOVEL[0] in texts and NOVEL[1] in texts
    record = pool.state.rounds[-1]
    assert record.rejected_leak == 1 and record.accepted == 2
    # the same candidate without the leak check is judged on pool similarity alone
    other = PersonaPool(tmp_path / "q.jsonl", "profile", minilm, seeds=SEEDS)
    grow(other, generator(aloe_host, QueueScript([[leak_candidate()]])), max_rounds=1, threshold=0.8)
    assert other.state.rounds[-1].rejected_leak == 0 and other.state.rounds[-1].accepted == 1


# -- the CLI through litellm and the local OpenAI-compatible server ------------------------------

@pytest.fixture
def litellm_env(aloe_openai_server, monkeypatch, tmp_path):
    from aloe_bench.plugins import default_host

    if "litellm" not in default_host().models:
        pytest.skip("aloe-bench-litellm is not installed")
    monkeypatch.setenv("OPENAI_API_BASE", aloe_openai_server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    monkeypatch.setenv("ALOE_BENCH_CACHE_DIR", str(tmp_path / "cache"))
    return aloe_openai_server


def run_cli(args):
    from click.testing import CliRunner

    from aloe_bench.cli import cli

    return CliRunner().invoke(cli, args, catch_exceptions=False)


def test_cli_grow_through_litellm_resumes_and_rejects_leaks(tmp_path, aloe_data_dir, litellm_env, minilm,
                                                           monkeypatch):
    monkeypatch.setenv("ALOE_BENCH_DATA_DIR", str(aloe_data_dir))
    batches = [[NOVEL[0], near_copies()[0], leak_candidate()],
               [NOVEL[1], NOVEL[1].replace("24-year-old", "25-year-old")], [NOVEL[2]]]
    script = QueueScript(batches)
    litellm_env.script = script
    pool = tmp_path / "pool.jsonl"
    args = ["personas", "grow", "--kind", "profile", "--generator", "litellm:openai/aloe-test", "--pool", str(pool),
            "--batch", "3", "--threshold", "0.8", "--quiet"]
    res = run_cli(args + ["--max-rounds", "2"])
    assert res.exit_code == 0, res.output
    assert "22 entries (+2 in 2 rounds)" in res.output and "round limit" in res.output
    assert len(litellm_env.chat_requests()) == 2
    req = litellm_env.chat_requests()[0]["json"]
    assert req["temperature"] == 0.8 and "Write 3 new profiles" in req["messages"][-1]["content"]
    state = json.loads(pool_paths(pool)[2].read_text())
    assert state["rounds"][0]["rejected_leak"] == 1 and state["rounds"][0]["rejected_duplicate"] == 1
    assert state["rounds"][1]["rejected_duplicate"] == 1  # the near-repeat within the batch
    assert state["generator"] == "litellm:openai/aloe-test"

    res = run_cli(args + ["--max-rounds", "3"])
    assert res.exit_code == 0, res.output
    assert "23 entries (+1 in 1 rounds)" in res.output
    assert len(litellm_env.chat_requests()) == 3  # rounds 1-2 were not asked again
    assert [e.text for e in read_entries(pool)][20:] == NOVEL[:3]
    assert "sk-test-not-a-real-key" not in pool.read_text() + pool_paths(pool)[2].read_text()


def test_cli_grow_without_seeds_for_new_pool_in_other_kind(tmp_path, litellm_env):
    seeds = tmp_path / "s.jsonl"
    seeds.write_text("")
    res = run_cli(["personas", "grow", "--kind", "personality", "--generator", "litellm:openai/aloe-test",
                   "--pool", str(tmp_path / "x.jsonl"), "--seeds", str(seeds), "--no-leak-check", "--quiet"])
    assert res.exit_code == 1 and "holds no entries" in res.output
    assert not litellm_env.chat_requests()
