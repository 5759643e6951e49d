"""RLPA's rewards and the judges behind them: the coverage judge (how many golden facts an inferred
profile covers), the engagement judge (would the user keep chatting), the ``profile`` and
``response`` rewards built on them, ``aloe_register_rewards`` and using rewards from Python.

Judges answer from scripts (backend-free) and, end to end, an API model reached by litellm over
real HTTP on the project's OpenAI-compatible server, with known counts and answers, unreadable
answers and failed calls.
"""

from __future__ import annotations

import asyncio
import json
import re

import pytest

from aloe_bench import hookimpl
from aloe_bench.backends.resolve import resolve_model
from aloe_bench.components import (CoverageJudge, CoverageRequest, EngagementJudge, EngagementRequest, Reward,
                                   RewardRequest, RewardResult)
from aloe_bench.errors import ConfigError, PluginError, UnknownComponentError
from aloe_bench.plugins import PluginHost
from aloe_bench.prompts import load_prompt, prompt_hash
from aloe_bench.protocols import build_judge
from aloe_bench.protocols.coverage import (COVERAGE_MARKER, PROMPT as COVERAGE_PROMPT,
                                           RETRY_PROMPT as COVERAGE_RETRY, AloeCoverageJudge, parse_count)
from aloe_bench.protocols.engagement import (ENGAGEMENT_MARKER, PROMPTS as ENGAGEMENT_PROMPTS,
                                             RETRY_PROMPT as ENGAGEMENT_RETRY, AloeEngagementJudge, parse_keep,
                                             split_keep_rationale)
from aloe_bench.records import Message, Persona
from aloe_bench.rewards import build_reward, request_from_output, run_rewards, run_sync
from aloe_bench.testing.openai_server import OpenAICompatServer, message_text
from aloe_bench.testing.scripted import ScriptedModel
from tests.helpers import answers_in_order as _answers, run_cli

P = Persona(id="ana", profile="Ana is a nurse in Lisbon. She surfs. She has two cats.",
            personality="Warm. Curious.")
GOLDEN = ["Works as a nurse", "Lives in Lisbon", "Surfs", "Has two cats", "Is 34 years old"]
HIST = [Message(role="user", content="Back from the waves, my arms are jelly.")]
API_KEY = "sk-rewards-2b7e9d41c0a8f365"


def _host(**plugins) -> PluginHost:
    return PluginHost(load_entrypoints=False, extra_plugins=plugins)


def _req(profile=("nurse",), response="Which beach?", **kw) -> RewardRequest:
    values = dict(persona=P, golden=GOLDEN, history=HIST, profile=None if profile is None else list(profile),
                  response=response)
    values.update(kw)
    return RewardRequest(**values)


# -- parsing ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("text,count", [
    ("3", 3), ("0", 0), ("**3**", 3), ("3.", 3), ("Covered: 3", 3), ("covered: **three**", 3), ("Three.", 3),
    ("3 facts", 3), ("3/5", 3), ("3 out of 5", 3), ('{"covered": 2}', 2), ('{"count": "four"}', 4), ("None.", 0),
    ("zero", 0), ("The number of golden facts covered is 4.", 4), ("Answer: 2\nIt names her job.", 2),
    ("I count 2 of the 5 facts.", 2), ("Count - 1", 1), ("`5`", 5), ("Final answer: five", 5),
])
def test_parse_count_reads(text, count):
    assert parse_count(text, most=5) == count


@pytest.mark.parametrize("text", ["", "  ", "hmm", "Several of them.", "-1", "Covered: -2", "2.5", "6", "twenty",
                                  '{"covered": -1}', '{"covered": true}', "I cannot rate this."])
def test_parse_count_refuses_missing_negative_fractional_and_absurd_counts(text):
    assert parse_count(text, most=5) is None


def test_parse_count_without_a_ceiling_reads_any_whole_number():
    assert parse_count("12") == 12 and parse_count("twenty") == 20 and parse_count("-3") is None


@pytest.mark.parametrize("text,keep", [
    ("yes", True), ("Yes.", True), ("**Yes**", True), ("YES\nwarm", True), ("1", True), ("no", False),
    ("No.", False), ("0", False), ("Answer: no", False), ("**Answer:** *yes*", True), ('{"keep": true}', True),
    ('{"answer": "no"}', False), ("Yes, it asks about her garden.", True), ("No - it flatters her", False),
    ("Decision: yes\nIt is warm.", True), ("I think the verdict: no, since it echoes.", False),
])
def test_parse_keep_reads(text, keep):
    assert parse_keep(text) is keep


@pytest.mark.parametrize("text", ["", "Hmm.", "Not really.", "Yes and no", "No one would mind.",
                                  "Answer: yes. Answer: no", "Maybe", "I cannot rate this."])
def test_parse_keep_refuses(text):
    assert parse_keep(text) is None


def test_split_keep_rationale():
    assert split_keep_rationale("No\nIt flatters her.") == "It flatters her."
    assert split_keep_rationale("Yes, it asks about her cats.") == "it asks about her cats."
    assert split_keep_rationale("yes") == ""


# -- prompts and registration ------------------------------------------------------------------------

def test_prompt_files_carry_the_markers():
    assert COVERAGE_MARKER in load_prompt(COVERAGE_PROMPT) and COVERAGE_MARKER in load_prompt(COVERAGE_RETRY)
    for name in [*ENGAGEMENT_PROMPTS.values(), ENGAGEMENT_RETRY]:
        assert ENGAGEMENT_MARKER in load_prompt(name), name
    # the scripted backend's 1-5 judge markers are not in them (it would answer them with a score)
    for name in [COVERAGE_PROMPT, COVERAGE_RETRY, *ENGAGEMENT_PROMPTS.values(), ENGAGEMENT_RETRY]:
        assert "could not be read" not in load_prompt(name) and "Rate the reply from 1 to 5" not in load_prompt(name)


def test_judges_and_rewards_are_registered_by_the_builtin_plugins():
    host = _host()
    coverage, engagement = host.judges.get("aloe-coverage"), host.judges.get("aloe-engagement")
    assert coverage.meta["task"] == "coverage" and engagement.meta["task"] == "engagement"
    assert coverage.plugin == engagement.plugin == "core.roles"
    assert isinstance(build_judge("aloe-coverage", ScriptedModel(), host=host), CoverageJudge)
    assert isinstance(build_judge("aloe-engagement", ScriptedModel(), host=host), EngagementJudge)
    assert {"profile", "response"} <= set(host.rewards.names())
    assert host.rewards.get("profile").plugin == "core.rewards"
    blocked = PluginHost(load_entrypoints=False, env={"ALOE_BENCH_DISABLE_PLUGINS": "core.rewards"})
    assert "profile" not in blocked.rewards and "core.rewards" in blocked.skipped


def test_plugins_command_lists_the_rewards():
    data = json.loads(run_cli("plugins", "--json", check=True).stdout)
    [rewards] = [p for p in data["plugins"] if p["name"] == "core.rewards"]
    assert rewards["registered"] == {"rewards": ["profile", "response"]}
    assert {("reward", "profile"), ("reward", "response"), ("judge protocol", "aloe-coverage"),
            ("judge protocol", "aloe-engagement")} <= {(c["kind"], c["name"]) for c in data["components"]}


def test_describe_records_options_and_every_prompt_hash():
    cov = AloeCoverageJudge(ScriptedModel(), max_retries=1).describe()
    assert cov["kind"] == "aloe-coverage" and cov["options"]["max_retries"] == 1
    assert cov["prompt_hashes"] == {COVERAGE_PROMPT: prompt_hash(COVERAGE_PROMPT),
                                    COVERAGE_RETRY: prompt_hash(COVERAGE_RETRY)}
    eng = AloeEngagementJudge(ScriptedModel()).describe()
    assert set(eng["prompt_hashes"]) == {*ENGAGEMENT_PROMPTS.values(), ENGAGEMENT_RETRY}
    with build_reward("response", "scripted", host=_host(), cache=False, sees="inferred", max_retries=0) as reward:
        described = reward.describe()
    assert described["kind"] == "response" and described["options"]["sees"] == "inferred"
    assert described["options"]["judge"] == "aloe-engagement"
    assert described["options"]["judge_options"]["max_retries"] == 0
    assert described["prompt_hashes"] == eng["prompt_hashes"]


# -- the coverage judge ------------------------------------------------------------------------------

def test_coverage_prompt_lists_numbered_golden_facts_and_the_profile_lines():
    script, seen = _answers("2")
    [v] = asyncio.run(AloeCoverageJudge(ScriptedModel(script=script)).count(
        [CoverageRequest(persona=P, golden=GOLDEN, inferred=["is a nurse", "surfs a lot"])]))
    assert v.covered == 2 and v.attempts == 1 and v.error is None and v.usage.calls == 1
    text = seen[0][0].content
    assert COVERAGE_MARKER in text and "1. Works as a nurse\n2. Lives in Lisbon" in text
    assert "- is a nurse\n- surfs a lot" in text and "from 0 to 5" in text
    assert P.profile not in text  # the golden facts are the truth it sees


def test_coverage_judge_makes_no_call_for_an_empty_profile_or_no_golden_facts():
    model = ScriptedModel(script=lambda m: "1")
    verdicts = asyncio.run(AloeCoverageJudge(model).count([
        CoverageRequest(persona=P, golden=GOLDEN, inferred=[]), CoverageRequest(persona=P, golden=[], inferred=["x"]),
        CoverageRequest(persona=P, golden=GOLDEN, inferred=["nurse"])]))
    assert [v.covered for v in verdicts] == [0, 0, 1] and [v.attempts for v in verdicts] == [0, 0, 1]
    assert model.calls == 1


def test_coverage_judge_re_asks_unreadable_and_absurd_answers():
    script, seen = _answers("Quite a few of them.", "9", "**3**")
    [v] = asyncio.run(AloeCoverageJudge(ScriptedModel(script=script)).count(
        [CoverageRequest(persona=P, golden=GOLDEN, inferred=["a", "b", "c"])]))
    assert v.covered == 3 and v.attempts == 3 and v.usage.calls == 3 and v.raw == "**3**"
    last = seen[-1]
    assert [m.role for m in last] == ["user", "assistant", "user", "assistant", "user"]
    assert last[1].content == "Quite a few of them." and last[3].content == "9"
    assert COVERAGE_MARKER in last[2].content and "from 0 to 5" in last[2].content


def test_coverage_judge_keeps_an_unreadable_answer_as_none_and_a_failed_call_as_an_error():
    model = ScriptedModel(script=lambda m: "lots", fail=lambda m: "boom" if "FAILME" in m[0].content else None)
    unreadable, failed = asyncio.run(AloeCoverageJudge(model, max_retries=1).count([
        CoverageRequest(persona=P, golden=GOLDEN, inferred=["a"]),
        CoverageRequest(persona=P, golden=GOLDEN, inferred=["FAILME"])]))
    assert unreadable.covered is None and unreadable.error is None and unreadable.attempts == 2
    assert failed.covered is None and failed.error == "boom" and failed.raw == "(error: boom)"


# -- the engagement judge ----------------------------------------------------------------------------

def test_engagement_judge_sees_the_persona_or_the_inferred_profile():
    script, seen = _answers("yes\nIt asks about her surfing.", "No\nIt echoes her.")
    judge = AloeEngagementJudge(ScriptedModel(script=script))
    a, b = asyncio.run(judge.decide([
        EngagementRequest(persona=P, history=HIST, reply="Which beach?"),
        EngagementRequest(persona=P, history=HIST, reply="Your arms are jelly!", profile=["surfs", "likes tea"])]))
    assert (a.keep, a.rationale, b.keep, b.rationale) == (True, "It asks about her surfing.", False, "It echoes her.")
    with_persona, with_profile = seen[0][0].content, seen[1][0].content
    assert P.profile in with_persona and P.personality in with_persona and HIST[0].content in with_persona
    assert "Which beach?" in with_persona
    assert P.profile not in with_profile and "- surfs\n- likes tea" in with_profile
    assert "Your arms are jelly!" in with_profile and ENGAGEMENT_MARKER in with_profile


def test_engagement_judge_re_asks_then_gives_up_without_guessing():
    script, seen = _answers("It depends.", "Maybe?", "Hard to say.")
    [v] = asyncio.run(AloeEngagementJudge(ScriptedModel(script=script)).decide(
        [EngagementRequest(persona=P, history=HIST, reply="Cool.")]))
    assert v.keep is None and v.error is None and v.attempts == 3 and v.raw == "Hard to say."
    assert ENGAGEMENT_MARKER in seen[1][-1].content and seen[1][-2].content == "It depends."


# -- reward arithmetic through the profile reward ---------------------------------------------------

def _profile_reward(*answers, **options):
    script, seen = _answers(*answers)
    host = _host()
    model = ScriptedModel(script=script)
    reward = host.rewards.get("profile").build(model, defaults={"host": host}, **options)
    return reward, seen


def test_profile_reward_is_f1_of_the_clamped_count():
    reward, _ = _profile_reward("2", "4", "0", "5")
    assert isinstance(reward, Reward)
    results = asyncio.run(reward.reward([
        _req(profile=["nurse", "surfs", "likes tea"]),   # 2 of 5 golden, 3 lines: P 2/3, R 2/5
        _req(profile=["nurse", "surfer"]),               # the judge says 4: clamped to the 2 lines there are
        _req(profile=["likes tea"]),                     # nothing covered
        _req(profile=["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"]),  # 5 of 5 golden, 10 lines
    ]))
    two, clamped, nothing, wordy = results
    assert two.value == pytest.approx(2 * (2 / 3) * (2 / 5) / (2 / 3 + 2 / 5))
    assert two.details | {"raw": None} == {"covered": 2, "answered": 2, "inferred": 3, "golden": 5,
                                           "precision": pytest.approx(2 / 3), "recall": pytest.approx(0.4),
                                           "f1": pytest.approx(two.value), "raw": None, "attempts": 1}
    assert clamped.details["answered"] == 4 and clamped.details["covered"] == 2
    assert clamped.details["precision"] == 1.0 and clamped.value == pytest.approx(2 * 0.4 / 1.4)
    assert nothing.value == 0.0 and nothing.details["covered"] == 0 and nothing.error is None
    assert wordy.value == pytest.approx(2 * 0.5 * 1.0 / 1.5) and wordy.details["recall"] == 1.0
    assert all(r.usage.calls == 1 for r in results)


def test_profile_reward_is_zero_without_a_call_for_malformed_missing_and_empty_profiles():
    reward, seen = _profile_reward()
    results = asyncio.run(reward.reward([
        _req(malformed="no <response>...</response> section"), _req(profile=None), _req(profile=[]),
        _req(golden=[])]))
    assert [r.value for r in results] == [0.0, 0.0, 0.0, 0.0] and seen == []
    assert [r.details["reason"] for r in results] == ["malformed: no <response>...</response> section",
                                                      "no profile", "empty profile", "no golden facts"]
    assert all(r.error is None and r.usage.calls == 0 for r in results)


def test_profile_reward_of_a_failed_call_is_an_error_not_a_zero():
    host = _host()
    model = ScriptedModel(script=lambda m: "3", fail=lambda m: "judge down")
    reward = host.rewards.get("profile").build(model, defaults={"host": host}, max_retries=1)
    [r] = asyncio.run(reward.reward([_req()]))
    assert r.value is None and r.error == "judge down" and "reason" not in r.details
    assert r.usage.calls == 2  # asked again once (max_retries=1), then given up


def test_profile_reward_of_an_unreadable_answer_is_none_with_the_reason():
    reward, _ = _profile_reward("no idea", "none that I can tell, really", max_retries=1)
    [r] = asyncio.run(reward.reward([_req()]))
    assert r.value is None and r.error is None and r.details["reason"] == "unreadable coverage answer"


def test_response_reward_is_one_or_zero_and_zero_for_malformed_or_missing_responses():
    script, seen = _answers("yes", "no")
    host = _host()
    reward = host.rewards.get("response").build(ScriptedModel(script=script), defaults={"host": host})
    results = asyncio.run(reward.reward([_req(response="Which beach?"), _req(response="Wow, you are amazing!"),
                                         _req(malformed="empty <response>", response=""), _req(response=None)]))
    assert [r.value for r in results] == [1.0, 0.0, 0.0, 0.0] and len(seen) == 2
    assert results[0].details["keep"] is True and results[1].details["keep"] is False
    assert results[2].details["reason"] == "malformed: empty <response>"
    assert results[3].details["reason"] == "no response"
    assert P.profile in seen[0][0].content  # sees=persona by default


def test_request_from_output_reads_an_rlpa_output():
    good = request_from_output("<profile>\n- nurse\n- surfs\n</profile>\n<response>Which beach?</response>",
                               persona=P, golden=GOLDEN, history=HIST, turn=2, conversation_id="c1")
    assert (good.profile, good.response, good.malformed, good.turn) == (["nurse", "surfs"], "Which beach?", None, 2)
    bad = request_from_output("Which beach?", persona=P, golden=GOLDEN)
    assert bad.malformed == "no <profile>...</profile> section" and bad.profile is None


# -- registration errors ------------------------------------------------------------------------------

def test_a_reward_over_a_judge_of_another_task_is_a_one_line_error():
    with pytest.raises(ConfigError) as info:
        build_reward("profile", "scripted", host=_host(), cache=False, judge="aloe")
    assert "task='score'" in str(info.value) and "task='coverage'" in str(info.value)
    assert "aloe-coverage" in info.value.hint and "\n" not in str(info.value)
    with pytest.raises(ConfigError, match="aloe-engagement"):
        build_reward("response", "scripted", host=_host(), cache=False, judge="aloe-coverage")


class _CountlessJudge:
    name = "countless"

    def __init__(self, backend, *, params=None):
        self.backend = backend

    def describe(self):
        return {"kind": self.name}


class _NotAReward:
    def __init__(self, backend=None):
        pass

    def describe(self):
        return {}


class _BrokenPlugin:
    @hookimpl
    def aloe_register_judges(self, register):
        register("countless", _CountlessJudge, task="coverage", description="lacks count")

    @hookimpl
    def aloe_register_rewards(self, register):
        register("not-a-reward", _NotAReward, needs_backend=False, description="lacks reward")


def test_a_judge_or_reward_without_its_method_is_a_one_line_plugin_error():
    host = _host(broken=_BrokenPlugin())
    with pytest.raises(PluginError) as info:
        build_reward("profile", "scripted", host=host, cache=False, judge="countless")
    assert "'countless' of plugin 'broken'" in str(info.value) and "lacks count" in str(info.value)
    assert "\n" not in str(info.value)
    with pytest.raises(PluginError, match="'not-a-reward' of plugin 'broken'.*lacks reward"):
        build_reward("not-a-reward", host=host)


def test_reward_lookup_and_options_errors():
    host = _host()
    with pytest.raises(UnknownComponentError, match="Did you mean: profile"):
        build_reward("profiel", "scripted", host=host)
    with pytest.raises(ConfigError, match="needs a judge model spec"):
        build_reward("profile", host=host)
    with pytest.raises(ConfigError, match="takes no option 'bogus'"):
        build_reward("profile", "scripted", host=host, cache=False, bogus=1)
    with pytest.raises(ConfigError, match="sees=persona"):
        build_reward("response", "scripted", host=host, cache=False, sees="everything")

    class BadKeyword:
        @hookimpl
        def aloe_register_rewards(self, register):
            register("x", _NotAReward, task="coverage")

    with pytest.raises(PluginError, match="unknown keyword"):
        _host(bad=BadKeyword()).rewards


def test_a_reward_that_asks_no_model_takes_no_spec(with_fake_plugin):
    host = PluginHost()
    assert "fake-length" in host.rewards and host.rewards.get("fake-length").plugin == "fake"
    with pytest.raises(ConfigError, match="asks no model"):
        build_reward("fake-length", "scripted", host=host)
    with build_reward("fake-length", host=host, per=4) as reward:
        results = reward.reward_sync([_req(response="one two"), _req(response="one two three four five")])
    assert [r.value for r in results] == [0.5, 1.0] and results[0].details == {"words": 2}
    data = json.loads(run_cli("plugins", "--json", check=True).stdout)
    [fake] = [p for p in data["plugins"] if p["name"] == "fake"]
    assert fake["registered"]["rewards"] == ["fake-length"]


# -- end to end over HTTP ----------------------------------------------------------------------------

#: What the server's judge knows: a golden fact is covered when its keyword is in a profile line.
KEYWORDS = {"Works as a nurse": "nurse", "Lives in Lisbon": "lisbon", "Surfs": "surf", "Has two cats": "cat",
            "Is 34 years old": "34"}


def judge_script(messages):
    """Counts covered facts exactly; says yes to replies that ask a question."""
    first = message_text(messages[0])
    if COVERAGE_MARKER in first:
        golden = re.findall(r"^\d+\. (.*)$", first.split("Golden facts:", 1)[1].split("inferred profile:")[0], re.M)
        inferred = re.findall(r"^- (.*)$", first.split("inferred profile:", 1)[1].split(COVERAGE_MARKER)[0], re.M)
        covered = sum(any(KEYWORDS[g] in line.lower() for line in inferred) for g in golden)
        return f"Covered: {covered}"
    if ENGAGEMENT_MARKER in first:
        reply = first.split("latest reply:", 1)[1].split("Would this person", 1)[0]
        return "Yes\nIt asks her something." if "?" in reply else "No\nIt gives her nothing to answer."
    return "?"


@pytest.fixture(scope="module")
def server():
    with OpenAICompatServer(script=judge_script) as srv:
        yield srv


@pytest.fixture
def api(server, monkeypatch, tmp_path):
    server.reset()
    server.script = judge_script
    monkeypatch.setenv("OPENAI_API_BASE", server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    monkeypatch.setenv("ALOE_BENCH_CACHE_DIR", str(tmp_path / "cache"))
    yield server
    server.reset()


OUTPUTS = [
    "<profile>\n- Is a nurse\n- Surfs at dawn\n- Likes tea\n</profile>\n<response>Which beach do you surf?</response>",
    "<profile>\n- Lives in Lisbon\n- Has cats\n- 34 years old\n- Surfer\n- Nurse\n</profile>\n"
    "<response>Sounds tiring.</response>",
    "<profile>\n- Likes tea\n</profile>\n<response>Tea after surfing?</response>",
    "<profile>\n- Nurse\n</profile>",  # malformed: no response
    "<profile>\n</profile>\n<response>Tell me more?</response>",  # an empty profile
]


def _requests():
    return [request_from_output(text, persona=P, golden=GOLDEN, history=HIST, turn=1, conversation_id=f"c{i}")
            for i, text in enumerate(OUTPUTS)]


def test_both_judges_over_http_with_known_counts_and_answers(api):
    host = PluginHost()
    backend = resolve_model("openai/judge", host, max_retries=0)
    coverage, engagement = build_judge("aloe-coverage", backend, host=host), build_judge("aloe-engagement", backend,
                                                                                         host=host)
    counted = run_sync(coverage.count([
        CoverageRequest(persona=P, golden=GOLDEN, inferred=["Is a nurse", "Surfs at dawn", "Likes tea"]),
        CoverageRequest(persona=P, golden=GOLDEN, inferred=["Lisbon local", "two cats", "34", "surfer", "nurse"]),
        CoverageRequest(persona=P, golden=GOLDEN, inferred=["Likes tea"]),
        CoverageRequest(persona=P, golden=GOLDEN, inferred=[])]))
    assert [v.covered for v in counted] == [2, 5, 0, 0] and [v.attempts for v in counted] == [1, 1, 1, 0]
    assert len(api.chat_requests(COVERAGE_MARKER)) == 3  # none for the empty profile
    decided = run_sync(engagement.decide([EngagementRequest(persona=P, history=HIST, reply="Which beach?"),
                                          EngagementRequest(persona=P, history=HIST, reply="Cool.")]))
    assert [(v.keep, v.rationale) for v in decided] == [(True, "It asks her something."),
                                                        (False, "It gives her nothing to answer.")]
    assert all(v.usage.calls == 1 and v.usage.prompt_tokens > 0 for v in counted[:3] + decided)


def test_both_rewards_over_http_with_known_counts_and_answers(api):
    host = PluginHost()
    with build_reward("profile", "openai/judge", host=host, cache=False) as profile, \
            build_reward("response", "openai/judge", host=host, cache=False) as response:
        prof, resp = run_rewards([profile, response], _requests())
    assert [r.details.get("covered") for r in prof] == [2, 5, 0, None, None]
    assert prof[0].value == pytest.approx(2 * (2 / 3) * (2 / 5) / (2 / 3 + 2 / 5))
    assert prof[1].value == 1.0 and prof[2].value == 0.0
    assert prof[3].value == 0.0 and prof[3].details["reason"].startswith("malformed: no <response>")
    assert prof[4].value == 0.0 and prof[4].details["reason"] == "empty profile"
    assert [r.value for r in resp] == [1.0, 0.0, 1.0, 0.0, 1.0]
    assert len(api.chat_requests(COVERAGE_MARKER)) == 3 and len(api.chat_requests(ENGAGEMENT_MARKER)) == 4
    totals = [p.value + r.value for p, r in zip(prof, resp)]  # RLPA's per-turn reward, in [0, 2]
    assert totals[1] == 1.0 and all(0.0 <= t <= 2.0 for t in totals)


def test_unreadable_answers_over_http_are_re_asked(api):
    api.inject("garbage", count=1, match=COVERAGE_MARKER)
    api.inject("garbage", count=1, match=ENGAGEMENT_MARKER)
    with build_reward("profile", "openai/judge", host=PluginHost(), cache=False) as profile, \
            build_reward("response", "openai/judge", host=PluginHost(), cache=False) as response:
        [p] = profile.reward_sync(_requests()[:1])
        [r] = response.reward_sync(_requests()[:1])
    assert p.details["covered"] == 2 and p.details["attempts"] == 2 and p.usage.calls == 2
    assert r.value == 1.0 and r.details["attempts"] == 2
    retried = api.chat_requests(COVERAGE_MARKER)[-1]["json"]["messages"]
    assert [m["role"] for m in retried] == ["user", "assistant", "user"]
    assert "No count could be read" in message_text(retried[-1])


def test_a_failed_call_over_http_is_an_error_not_a_zero(api):
    api.inject("500", count=10, match=COVERAGE_MARKER)
    with build_reward("profile", "openai/judge", host=PluginHost(), cache=False,
                      backend_options={"max_retries": 0}, max_retries=1) as profile:
        [failed] = profile.reward_sync(_requests()[:1])
    assert failed.value is None and failed.error and "reason" not in failed.details
    assert API_KEY not in failed.error and API_KEY not in json.dumps(failed.details)


def test_the_call_cache_serves_a_repeated_batch(api):
    host = PluginHost()
    with build_reward("profile", "openai/judge", host=host) as profile:
        first = profile.reward_sync(_requests()[:3])
        again = profile.reward_sync(_requests()[:3])
    assert [r.value for r in first] == [r.value for r in again]
    assert [r.usage.cached_calls for r in again] == [1, 1, 1] and len(api.chat_requests(COVERAGE_MARKER)) == 3


def test_reward_sync_works_inside_a_running_event_loop(api):
    host = PluginHost()

    async def caller():  # an async trainer or a notebook calling the synchronous API
        with build_reward("response", "openai/judge", host=host, cache=False) as reward:
            return reward.reward_sync(_requests()[:3])

    synced = asyncio.run(caller())
    assert [r.value for r in synced] == [1.0, 0.0, 1.0]
    assert all(isinstance(r, RewardResult) for r in synced)
