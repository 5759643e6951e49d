"""Golden facts (aloe_bench.personas.facts): the curated facts of the 20 ALOE eval profiles checked
against the official file, the facts-file reader, the sentence-split fallback, the lookup order
and what a run records, and ``aloe-bench personas facts`` with the scripted extractor and with an
API model reached by litellm over real HTTP on the project's OpenAI-compatible server (re-asks,
resume, a failing call, bad input)."""

from __future__ import annotations

import hashlib
import json
import re
import warnings
from pathlib import Path

import pytest

from aloe_bench.errors import AloeBenchWarning, ConfigError, DataError
from aloe_bench.personas import facts as factsmod
from aloe_bench.personas.facts import (CURATED, FACTS_MARKER, facts_key, golden_facts, parse_facts_answer,
                                       read_facts_file, sentence_facts)
from aloe_bench.records import Persona

CURATED_FILE = Path(__file__).resolve().parents[1] / "aloe_bench" / "personas" / "data" / "facts" / "aloe-eval.jsonl"
GENDER_FACTS = {"Is a man": "He", "Is a woman": "She"}


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower().replace("\u2019", "'"))


STOP = {"has", "had", "have", "the", "and", "his", "her", "for", "with", "from", "was", "are", "who", "year",
        "years", "old", "own", "often", "also", "likes", "loves", "enjoys"}


def stems(text: str) -> set[str]:
    """Crude stems of the content words: the first 4 letters of each word of 3+ letters that is
    not a stop word (``running`` -> ``runn``), and each number (so an age must match)."""
    return {w[:4] for w in re.findall(r"[a-z]+|\d+", text.lower())
            if (len(w) >= 3 or w.isdigit()) and w not in STOP}


def shares_content_word(fact: str, profile: str) -> bool:
    return bool(stems(fact) & stems(profile))


def longest_shared_run(fact: str, profile: str) -> int:
    fw, pw = words(fact), words(profile)
    grams = lambda ws, n: {tuple(ws[i:i + n]) for i in range(len(ws) - n + 1)}  # noqa: E731
    return max([n for n in range(1, len(fw) + 1) if grams(fw, n) & grams(pw, n)] or [0])


def curated_rows() -> list[dict]:
    return [json.loads(line) for line in CURATED_FILE.read_text(encoding="utf-8").splitlines() if line.strip()]


def eval_profiles() -> list[str]:
    from aloe_bench.personas.official import data_file, read_json_strings

    return read_json_strings(data_file("profile_eval.jsonl"))


# -- the curated facts of the ALOE eval profiles ------------------------------------------------

def test_curated_file_is_shipped_and_well_formed():
    assert CURATED_FILE in CURATED and CURATED_FILE.is_file()
    rows = curated_rows()
    assert [r["profile_index"] for r in rows] == list(range(1, 21))
    assert all(r["schema_version"] == 1 and set(r) == {"schema_version", "profile_index", "profile_sha256", "facts"}
               for r in rows)
    assert len(read_facts_file(CURATED_FILE)) == 20  # 20 distinct profiles, every line valid
    for r in rows:
        assert len(r["facts"]) >= 8, r["profile_index"]
        assert len({f.lower() for f in r["facts"]}) == len(r["facts"]), r["profile_index"]
        for fact in r["facts"]:
            assert fact == fact.strip() and fact[0].isupper() and not fact.endswith("."), fact
            assert 2 <= len(fact.split()) <= 12, fact


def test_curated_file_covers_every_eval_profile_by_hash(aloe_data_dir, monkeypatch):
    monkeypatch.setenv("ALOE_BENCH_DATA_DIR", str(aloe_data_dir))
    profiles = eval_profiles()
    rows = curated_rows()
    assert len(profiles) == 20
    # line i is the profile of persona ids aloe-eval-pNN-t*, keyed by the stripped text's sha256
    assert [r["profile_sha256"] for r in rows] == [facts_key(p) for p in profiles]
    assert [r["profile_sha256"] for r in rows] == [hashlib.sha256(p.strip().encode()).hexdigest() for p in profiles]


def test_every_aloe_eval_persona_gets_curated_facts(aloe_data_dir, monkeypatch):
    monkeypatch.setenv("ALOE_BENCH_DATA_DIR", str(aloe_data_dir))
    from aloe_bench.personas import load_personas

    personas = load_personas("aloe-eval")
    gf = golden_facts(personas)
    assert {gf.origin(p) for p in personas} == {"curated"}
    d = gf.describe()
    assert d["origins"] == {"file": 0, "curated": 100, "sentence-split": 0} and d["file"] is None
    assert d["curated"] == [{"name": "aloe-eval.jsonl",
                             "sha256": hashlib.sha256(CURATED_FILE.read_bytes()).hexdigest()}]
    rows = {r["profile_index"]: r["facts"] for r in curated_rows()}
    for p in personas:
        assert gf.facts(p) == rows[int(p.id.split("-p")[1][:2])], p.id


def test_each_curated_fact_is_about_its_own_profile_and_paraphrased(aloe_data_dir, monkeypatch):
    """Every fact shares a content word with its profile (a fact about another profile or an
    invented one is caught), gender facts match the profile's pronoun, and no fact copies a run
    of 6 or more words from the profile (the facts are ours; the ALOE texts are not committed)."""
    monkeypatch.setenv("ALOE_BENCH_DATA_DIR", str(aloe_data_dir))
    profiles = eval_profiles()
    text = CURATED_FILE.read_text(encoding="utf-8")
    for r in curated_rows():
        profile = profiles[r["profile_index"] - 1]
        assert sum(f in GENDER_FACTS for f in r["facts"]) == 1
        for fact in r["facts"]:
            if fact in GENDER_FACTS:
                assert profile.split()[0] == GENDER_FACTS[fact], (r["profile_index"], fact)
                continue
            assert shares_content_word(fact, profile), (r["profile_index"], fact)
            assert longest_shared_run(fact, profile) < 6, (r["profile_index"], fact)
        for sentence in sentence_facts(profile):
            assert sentence not in text


def test_the_content_word_check_catches_facts_of_other_profiles(aloe_data_dir, monkeypatch):
    """The check above has teeth: most facts of one eval profile fail it against another."""
    monkeypatch.setenv("ALOE_BENCH_DATA_DIR", str(aloe_data_dir))
    profiles = eval_profiles()
    rows = curated_rows()
    assert not shares_content_word("Has a pet ferret called Nibbles", profiles[0])
    assert not shares_content_word("Has a French Bulldog called Coco", profiles[18])
    assert not shares_content_word("Was born on the moon", profiles[4])
    for a, b in ((0, 9), (4, 16), (9, 17)):
        foreign = [f for f in rows[b]["facts"] if f not in GENDER_FACTS and not f.startswith("Is ")]
        caught = [f for f in foreign if not shares_content_word(f, profiles[a])]
        assert len(caught) >= len(foreign) // 2, (a, b, caught)


# -- the reader, the fallback, the answer parser -------------------------------------------------

def line(profile: str, facts: list[str], **extra) -> str:
    return json.dumps({"schema_version": 1, "profile_sha256": facts_key(profile), "facts": facts, **extra})


def test_facts_key_strips_surrounding_whitespace():
    assert facts_key("He is 30.\n") == facts_key("  He is 30.") == hashlib.sha256(b"He is 30.").hexdigest()
    assert facts_key("He is 30.") != facts_key("He is 31.")


def test_read_facts_file_tolerates_a_torn_tail_and_keeps_the_last_duplicate(tmp_path):
    path = tmp_path / "f.jsonl"
    path.write_text(line("A.", ["one"]) + "\n" + line("B.", ["two"]) + "\n" + line("A.", [" uno ", "dos"]) + "\n"
                    + '{"schema_version": 1, "profile_sha', encoding="utf-8")
    with pytest.warns(AloeBenchWarning, match="torn last line"):
        got = read_facts_file(path)
    assert got == {facts_key("B."): ["two"], facts_key("A."): ["uno", "dos"]}
    assert list(got) == [facts_key("B."), facts_key("A.")]  # the last line's place


@pytest.mark.parametrize("bad, message", [
    ("not json", "f.jsonl:2: not valid JSON"),
    ('["a list"]', "f.jsonl:2: expected an object"),
    ('{"schema_version": 1, "profile_sha256": "abc", "facts": ["x"]}', "profile_sha256 must be 64"),
    (json.dumps({"schema_version": 1, "profile_sha256": "0" * 64, "facts": []}), "facts must be a non-empty list"),
    (json.dumps({"schema_version": 1, "profile_sha256": "0" * 64, "facts": ["ok", " "]}), "non-empty strings"),
    (json.dumps({"profile_sha256": "0" * 64, "facts": ["x"]}), "schema_version must be"),
    (json.dumps({"schema_version": 2, "profile_sha256": "0" * 64, "facts": ["x"]}), "newer aloe-bench"),
])
def test_a_bad_row_is_a_one_line_error_naming_file_and_line(tmp_path, bad, message):
    path = tmp_path / "f.jsonl"
    path.write_text(line("A.", ["one"]) + "\n" + bad + "\n" + line("B.", ["two"]) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=re.escape(message)) as err:
        read_facts_file(path)
    assert "\n" not in str(err.value)


def test_a_bad_last_line_with_its_newline_is_not_torn(tmp_path):
    path = tmp_path / "f.jsonl"
    path.write_text(line("A.", ["one"]) + "\n{broken\n", encoding="utf-8")
    with pytest.raises(DataError, match="f.jsonl:2"):
        read_facts_file(path)


def test_a_missing_facts_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        read_facts_file(tmp_path / "nope.jsonl")
    with pytest.raises(ConfigError, match="does not exist"):
        golden_facts([], tmp_path / "nope.jsonl")


@pytest.mark.parametrize("profile, expected", [
    ("He is 30. He runs marathons!  Does he cook? Yes.", ["He is 30.", "He runs marathons!", "Does he cook?", "Yes."]),
    ('She said "hi." Then she left.', ['She said "hi."', "Then she left."]),
    ("He is 3.5 m tall. He has a degree in e.g. physics", ["He is 3.5 m tall.", "He has a degree in e.g. physics"]),
    ("Line one\n\nLine two.\n", ["Line one", "Line two."]),
    ("  One sentence without a stop  ", ["One sentence without a stop"]),
    ("", []),
    ("   \n ", []),
])
def test_sentence_facts_splits_into_stripped_sentences(profile, expected):
    assert sentence_facts(profile) == expected


@pytest.mark.parametrize("answer, expected", [
    ("Is 33 years old\nRuns marathons", ["Is 33 years old", "Runs marathons"]),
    ("Here are the atomic facts:\n\n- **Is 33 years old**\n2. Runs marathons\n* runs marathons\n",
     ["Is 33 years old", "Runs marathons"]),
    ("Sure.\n<profile>\n- Is a nurse\n- Lives in Lisbon\n</profile>", ["Is a nurse", "Lives in Lisbon"]),
    ("Facts:\n\n   \n", []),
    ("", []),
])
def test_parse_facts_answer(answer, expected):
    assert parse_facts_answer(answer) == expected


# -- the lookup: facts file > curated > sentence split -------------------------------------------

def persona(pid: str, profile: str) -> Persona:
    return Persona(id=pid, profile=profile, personality="Calm.", source="test")


def test_golden_facts_lookup_order_and_describe(tmp_path, monkeypatch):
    curated = tmp_path / "curated.jsonl"
    curated.write_text(line("Curated one.", ["Is curated"]) + "\n" + line("In both.", ["From curated"]) + "\n")
    monkeypatch.setattr(factsmod, "CURATED", (curated, tmp_path / "not-installed.jsonl"))
    extracted = tmp_path / "extracted.jsonl"
    extracted.write_text(line(" In both. ", ["From the file"]) + "\n" + line("Only in file.", ["From the file too"])
                         + "\n")
    people = [persona("a", "Curated one."), persona("b", "In both."), persona("b2", "In both.\n"),
              persona("c", "Only in file."), persona("d", "Nowhere. Two sentences."), persona("e", "")]
    gf = golden_facts(people, extracted)
    assert [gf.origin(p) for p in people] == ["curated", "file", "file", "file", "sentence-split", "sentence-split"]
    assert [gf.facts(p) for p in people] == [["Is curated"], ["From the file"], ["From the file"],
                                             ["From the file too"], ["Nowhere.", "Two sentences."], []]
    assert gf.describe() == {
        "version": 1, "file": str(extracted), "file_sha256": hashlib.sha256(extracted.read_bytes()).hexdigest(),
        "curated": [{"name": "curated.jsonl", "sha256": hashlib.sha256(curated.read_bytes()).hexdigest()}],
        "origins": {"file": 3, "curated": 1, "sentence-split": 2}}
    json.dumps(gf.describe())  # run.json-ready

    without = golden_facts(people)  # no file: the curated facts win for the shared profile
    assert [without.origin(p) for p in people][:4] == ["curated", "curated", "curated", "sentence-split"]
    assert without.describe()["file"] is None and without.describe()["file_sha256"] is None
    assert without.facts(persona("new", "Not in the set. At all.")) == ["Not in the set.", "At all."]


def test_a_facts_file_for_other_profiles_warns(tmp_path, monkeypatch):
    monkeypatch.setattr(factsmod, "CURATED", ())
    other = tmp_path / "other.jsonl"
    other.write_text(line("Someone else.", ["Is someone else"]) + "\n")
    with pytest.warns(AloeBenchWarning, match="covers none of the 1 personas"):
        gf = golden_facts([persona("a", "Me.")], other)
    assert gf.describe()["origins"] == {"file": 0, "curated": 0, "sentence-split": 1}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        golden_facts([], other)


# -- aloe-bench personas facts -------------------------------------------------------------------

PROFILES = {
    "ana": "Ana is a nurse in Lisbon. She loves surfing and has a cat.",
    "bo": "Bo keeps goats on a farm. He plays the banjo.",
    "cy": "Cy is a retired chess teacher who bakes bread.",
}
FAIL_MARK = "ZEBRA"


def write_personas(path: Path, fail: bool = False) -> Path:
    rows = [{"id": "ana-1", "profile": PROFILES["ana"], "personality": "Warm."},
            {"id": "ana-2", "profile": PROFILES["ana"] + "\n", "personality": "Terse."},  # same profile
            {"id": "bo-1", "profile": PROFILES["bo"].replace("goats", FAIL_MARK) if fail else PROFILES["bo"],
             "personality": "Shy."},
            {"id": "cy-1", "profile": PROFILES["cy"], "personality": "Curious."},
            {"id": "empty", "profile": " ", "personality": "Loud."}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


class FactsScript:
    """The server's answers to the facts prompt: a heading and a bulleted list of the profile's
    sentences, reworded; ``blank_first`` answers one profile with a heading only once (re-asked)."""

    def __init__(self, blank_first: str | None = None):
        self.blank_first = blank_first

    def __call__(self, messages):
        prompt = messages[-1]["content"]
        assert FACTS_MARKER in prompt
        profile = prompt.split("The profile:\n", 1)[1].split("\n\nRules:", 1)[0]
        if FAIL_MARK in profile:
            raise RuntimeError("extractor down for this profile")
        if self.blank_first and self.blank_first in profile:
            self.blank_first = None
            return "Here are the facts:\n"
        return "Here are the facts:\n" + "".join(f"- {s.rstrip('.')}\n" for s in sentence_facts(profile))


@pytest.fixture
def api(aloe_openai_server, monkeypatch, tmp_path):
    from aloe_bench.plugins import default_host

    if "litellm" not in default_host().models:
        pytest.skip("aloe-bench-litellm is not installed")
    monkeypatch.setenv("OPENAI_API_BASE", aloe_openai_server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-facts-test-0000")
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    monkeypatch.setenv("ALOE_BENCH_CACHE_DIR", str(tmp_path / "cache"))
    aloe_openai_server.script = FactsScript()
    return aloe_openai_server


def run_cli(args):
    from click.testing import CliRunner

    from aloe_bench.cli import cli

    return CliRunner().invoke(cli, args, catch_exceptions=False)


def facts_lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


EXTRACT = ["--extractor", "litellm:openai/extractor", "--extractor-option", "max_retries=0", "-q"]


def test_cli_extracts_each_distinct_profile_over_http(api, tmp_path):
    people = write_personas(tmp_path / "people.jsonl")
    out = tmp_path / "facts.jsonl"
    res = run_cli(["personas", "facts", f"jsonl:{people}", "--output", str(out), *EXTRACT])
    assert res.exit_code == 0, res.output
    assert "3 profiles extracted, 0 skipped" in res.output and "0 failed" in res.output
    assert "1 personas without a profile left out" in res.output
    reqs = api.chat_requests()
    assert len(reqs) == 3  # ana's profile is asked once for both of its personas
    assert reqs[0]["json"]["temperature"] == 0 and reqs[0]["json"]["model"] == "extractor"
    rows = facts_lines(out)
    by_id = {r["persona_id"]: r for r in rows}
    assert set(by_id) == {"ana-1", "bo-1", "cy-1"}
    assert by_id["ana-1"]["facts"] == ["Ana is a nurse in Lisbon", "She loves surfing and has a cat"]
    assert by_id["ana-1"]["profile_sha256"] == facts_key(PROFILES["ana"])
    for r in rows:
        assert r["schema_version"] == 1 and r["attempts"] == 1 and r["prompt"] == "facts_extract.v1"
        assert r["prompt_sha256"] == factsmod.prompt_sha256()
        assert r["extractor"]["spec"] == "litellm:openai/extractor" and "identity" in r["extractor"]
    assert "sk-facts-test" not in out.read_text()
    from aloe_bench.personas.jsonl import read_persona_file

    personas = [p for p in read_persona_file(people) if p.profile.strip()]
    gf = golden_facts(personas, out)
    assert {gf.origin(p) for p in personas} == {"file"} and gf.describe()["origins"]["file"] == 4


def test_cli_re_asks_an_answer_without_a_fact_line(api, tmp_path):
    people = write_personas(tmp_path / "people.jsonl")
    out = tmp_path / "facts.jsonl"
    api.script = FactsScript(blank_first="chess teacher")
    res = run_cli(["personas", "facts", f"jsonl:{people}", "-o", str(out), *EXTRACT])
    assert res.exit_code == 0, res.output
    assert len(api.chat_requests()) == 4
    cy = next(r for r in facts_lines(out) if r["persona_id"] == "cy-1")
    assert cy["attempts"] == 2 and cy["facts"] == ["Cy is a retired chess teacher who bakes bread"]


def test_cli_refuses_a_non_empty_output_and_resume_skips_done_profiles(api, tmp_path):
    people = write_personas(tmp_path / "people.jsonl")
    out = tmp_path / "facts.jsonl"
    args = ["personas", "facts", f"jsonl:{people}", "-o", str(out), *EXTRACT]
    res = run_cli(args + ["--limit", "2"])
    assert res.exit_code == 0, res.output
    assert sorted(r["persona_id"] for r in facts_lines(out)) == ["ana-1", "bo-1"]  # the first 2 profiles
    assert len(api.chat_requests()) == 2

    api.reset()
    res = run_cli(args)
    assert res.exit_code == 2 and "is not empty (facts for 2 profiles)" in res.output and "--resume" in res.output
    assert api.chat_requests() == [] and len(facts_lines(out)) == 2

    res = run_cli(args + ["--resume"])
    assert res.exit_code == 0, res.output
    assert "1 profiles extracted, 2 skipped" in res.output
    assert len(api.chat_requests()) == 1 and FACTS_MARKER in api.chat_requests()[0]["json"]["messages"][0]["content"]
    assert sorted(r["persona_id"] for r in facts_lines(out)) == ["ana-1", "bo-1", "cy-1"]

    api.reset()
    res = run_cli(args + ["--resume"])
    assert res.exit_code == 0 and "0 profiles extracted, 3 skipped" in res.output
    assert api.chat_requests() == []

    res = run_cli(["personas", "facts", f"jsonl:{people}", "-o", str(out), "--resume", "--extractor", "scripted", "-q"])
    assert res.exit_code == 2 and "holds facts written by extractor 'litellm:openai/extractor'" in res.output


def test_cli_resume_after_a_torn_last_line(api, tmp_path):
    people = write_personas(tmp_path / "people.jsonl")
    out = tmp_path / "facts.jsonl"
    args = ["personas", "facts", f"jsonl:{people}", "-o", str(out), *EXTRACT]
    assert run_cli(args).exit_code == 0
    text = out.read_text()
    out.write_text(text[: len(text) - 40])  # a kill in the middle of the last line
    api.reset()
    with pytest.warns(AloeBenchWarning):
        res = run_cli(args + ["--resume"])
    assert res.exit_code == 0, res.output
    assert "1 profiles extracted, 2 skipped" in res.output and "1 calls (1 from cache)" in res.output
    assert api.chat_requests() == [] and len(facts_lines(out)) == 3  # the call cache answered the lost line


def test_cli_a_failing_call_exits_3_and_writes_nothing_for_that_profile(api, tmp_path):
    people = write_personas(tmp_path / "people.jsonl", fail=True)
    out = tmp_path / "facts.jsonl"
    args = ["personas", "facts", f"jsonl:{people}", "-o", str(out), *EXTRACT]
    res = run_cli(args)
    assert res.exit_code == 3, res.output
    assert "2 profiles extracted, 0 skipped" in res.output and "1 failed" in res.output
    assert "Incomplete" in res.output and "--resume" in res.output.split("Resume with:")[1]
    assert api.status_counts[500] == 3  # the first ask and two re-asks
    assert sorted(r["persona_id"] for r in facts_lines(out)) == ["ana-1", "cy-1"]
    assert all(r["facts"] for r in facts_lines(out))

    api.reset()
    api.script = lambda m: FactsScript()([{**x, "content": x["content"].replace(FAIL_MARK, "goats")} for x in m])
    res = run_cli(args + ["--resume"])
    assert res.exit_code == 0, res.output
    assert len(api.chat_requests()) == 1
    bo = next(r for r in facts_lines(out) if r["persona_id"] == "bo-1")
    assert bo["facts"] == ["Bo keeps goats on a farm", "He plays the banjo"]


def test_cli_with_the_scripted_extractor(tmp_path, monkeypatch):
    """The built-in ``scripted`` backend answers the facts prompt with three deterministic fact
    lines: parsed as three facts per profile, written with the scripted extractor's identity."""
    monkeypatch.setenv("ALOE_BENCH_CACHE_DIR", str(tmp_path / "cache"))
    people = write_personas(tmp_path / "people.jsonl")
    out = tmp_path / "facts.jsonl"
    res = run_cli(["personas", "facts", f"jsonl:{people}", "--extractor", "scripted", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "demo-quality" in res.output and "3 profiles extracted" in res.output
    rows = facts_lines(out)
    assert len(rows) == 3
    for r in rows:
        assert len(r["facts"]) == 3 and all(f.startswith("Scripted fact ") for f in r["facts"])
        assert r["extractor"] == {"spec": "scripted", "identity": {"spec": "scripted", "options": {}}}
    again = tmp_path / "again.jsonl"
    res = run_cli(["personas", "facts", f"jsonl:{people}", "--extractor", "scripted", "-o", str(again), "-q"])
    assert res.exit_code == 0 and "3 calls (3 from cache)" in res.output
    assert [r["facts"] for r in facts_lines(again)] == [r["facts"] for r in rows]


@pytest.mark.parametrize("args, code, message", [
    (["--extractor", "hff:nope"], 2, "Unknown model provider 'hff'"),
    (["--extractor", "scripted", "--extractor-option", "oops"], 2, "--extractor-option expects KEY=VALUE"),
])
def test_cli_bad_extractor_is_a_one_line_error(tmp_path, monkeypatch, args, code, message):
    monkeypatch.setenv("ALOE_BENCH_CACHE_DIR", str(tmp_path / "cache"))
    people = write_personas(tmp_path / "people.jsonl")
    out = tmp_path / "facts.jsonl"
    res = run_cli(["personas", "facts", f"jsonl:{people}", "-o", str(out), *args])
    assert res.exit_code == code and message in res.output
    assert res.output.count("Error:") == 1 and "Traceback" not in res.output
    assert not out.exists()


def test_cli_bad_source_and_profile_less_source(tmp_path, monkeypatch):
    monkeypatch.setenv("ALOE_BENCH_CACHE_DIR", str(tmp_path / "cache"))
    res = run_cli(["personas", "facts", f"jsonl:{tmp_path / 'none.jsonl'}", "--extractor", "scripted",
                   "-o", str(tmp_path / "f.jsonl")])
    assert res.exit_code == 1 and "does not exist" in res.output
    people = tmp_path / "p.jsonl"
    people.write_text(json.dumps({"id": "x", "profile": " ", "personality": "Kind."}) + "\n")
    res = run_cli(["personas", "facts", f"jsonl:{people}", "--extractor", "scripted", "-o", str(tmp_path / "f.jsonl")])
    assert res.exit_code == 1 and "no profile texts" in res.output
    assert not (tmp_path / "f.jsonl").exists()


# -- the docs ------------------------------------------------------------------------------------

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_docs_state_the_curated_counts():
    counts = [len(r["facts"]) for r in curated_rows()]
    text = " ".join((DOCS / "personas.md").read_text(encoding="utf-8").split())
    assert f"({sum(counts)} facts, {min(counts)} to {max(counts)} per profile)" in text
    assert f"({sum(counts)} facts)" in " ".join((DOCS / "profile.md").read_text(encoding="utf-8").split())


def test_the_python_example_of_the_docs_runs(aloe_data_dir, monkeypatch):
    monkeypatch.setenv("ALOE_BENCH_DATA_DIR", str(aloe_data_dir))
    text = (DOCS / "personas.md").read_text(encoding="utf-8")
    block = next(b for b in re.findall(r"```python\n(.*?)```", text, re.S) if "golden_facts(personas)" in b)
    ns: dict = {}
    exec(compile(block, "personas.md", "exec"), ns)
    for expr, shown in re.findall(r"^(facts\.[^\n#]*?)\s+# (.*)$", block, re.M):
        value = eval(expr, ns)
        if shown.endswith("...]"):
            assert repr(value).startswith(shown[:-4].rstrip(", ")), (expr, value)
        else:
            assert repr(value) == shown, (expr, value)
