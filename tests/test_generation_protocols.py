"""The built-in protocols of ``aloe-bench generate``: induction, hinted/unhinted responders and
the pairwise judge, their prompts, registration and the scripted backend's answers to them."""

import asyncio

import pytest

from aloe_bench.components import (GenerationParams, InductionRequest, PairRequest, PairwiseJudge, Induction,
                                   RespondRequest, Responder)
from aloe_bench.errors import ConfigError
from aloe_bench.plugins import PluginHost
from aloe_bench.prompts import load_prompt, prompt_hash
from aloe_bench.protocols import build_generation_protocol, build_judge
from aloe_bench.protocols.induction import INDUCTION_MARKER, PROMPT as INDUCTION_PROMPT, AloeInduction, split_induced
from aloe_bench.protocols.pairwise import (PAIR_MARKER, PROMPTS as PAIR_PROMPTS, RETRY_PROMPT, AloePairwiseJudge,
                                           parse_pair_verdict, split_pair_rationale)
from aloe_bench.protocols.responders import HINT_MARKER, AloeResponder, clean_reply
from aloe_bench.records import Message, Persona
from aloe_bench.testing.scripted import ScriptedModel, default_script
from tests.helpers import answers_in_order as _answers

P = Persona(id="p", profile="She is a 41-year-old nurse in Lyon.", personality="She is blunt. She is funny.")
HIST = [Message(role="user", content="EARLIER MSG"), Message(role="assistant", content="EARLIER REPLY")]


# -- prompts -------------------------------------------------------------------------------------

def test_prompt_files_carry_the_markers():
    for name in list(PAIR_PROMPTS.values()) + [RETRY_PROMPT]:
        assert PAIR_MARKER in load_prompt(name), name
    assert INDUCTION_MARKER in load_prompt(INDUCTION_PROMPT)
    hinted = load_prompt("responder_hinted.v1")
    assert HINT_MARKER in hinted and hinted.index(HINT_MARKER) < hinted.index("{hint}")
    unhinted = load_prompt("responder_unhinted.v1")
    assert "{" not in unhinted and HINT_MARKER not in unhinted
    # same length instruction in both: the hint is the only difference
    length = "about 3 sentences at most"
    assert length in hinted and length in unhinted
    assert "{history}" in load_prompt(PAIR_PROMPTS["history"]) and "{history}" not in load_prompt(PAIR_PROMPTS["turn"])


# -- parse_pair_verdict ----------------------------------------------------------------------------

@pytest.mark.parametrize("text,winner", [
    ("A", "A"), ("B", "B"), ("tie", "tie"), ("Tie.", "tie"), ("**A**", "A"), ("`B`", "B"), ("(B)", "B"),
    ("a", "A"), ("b.", "B"), ("Answer: B", "B"), ("Reply A", "A"), ("Option B", "B"), ("Winner: A", "A"),
    ("Final answer: **A**", "A"), ("**Answer:** *B*", "B"), ("Verdict: tie", "tie"), ("A tie", "tie"),
    ('{"winner": "B"}', "B"), ('{"winner": "tie", "why": "both fine"}', "tie"), ('{"Winner": "Reply A"}', "A"),
    ("A is better because it jokes with her.", "A"), ("B - warmer and shorter", "B"), ("A, because it jokes", "A"),
    ("Reply A: it mentions her job", "A"), ("A\nB is too long.", "A"), ("B\nScripted rationale.", "B"),
    ("The better reply is B.", "B"), ("I prefer Reply A since it is warmer.", "A"),
    ("Reply B fits her much better.", "B"), ("Overall, A wins.", "A"), ("The winner is Reply B.", "B"),
    ("Both are equally good", "tie"), ("Both replies are equally good.", "tie"), ("Neither", "tie"),
    ("Neither.", "tie"), ("Neither reply is better.", "tie"), ("It's a tie.", "tie"), ("No clear winner here.", "tie"),
    ("Tie - both are generic", "tie"), ("A is more formal, but B is better.", "B"),
])
def test_parse_pair_verdict_reads(text, winner):
    assert parse_pair_verdict(text) == winner


@pytest.mark.parametrize("text", [
    "", "   ", "I cannot decide.", "A or B", "A/B", "A and B are both fine",
    "A reply that mentions her job would be better.", "A reply is better when it is short.",
    "Winner: A. Actually the winner is B.", "A is better. No, B is better.", "answer: a reply",
    "Neither reply mentions her job, but A is warmer.", "{\"winner\": \"C\"}", "C", "5",
])
def test_parse_pair_verdict_refuses(text):
    assert parse_pair_verdict(text) is None


def test_split_pair_rationale():
    assert split_pair_rationale("A\nWarmer and shorter.") == "Warmer and shorter."
    assert split_pair_rationale("B - warmer") == "warmer"


# -- the pairwise judge ---------------------------------------------------------------------------

def _pair(history=()):
    return PairRequest(persona=P, history=list(history), user_message="USER MSG", first="FIRST REPLY",
                       second="SECOND REPLY", turn=2)


def test_pair_judge_prompt_labels_and_modes():
    script, seen = _answers("A", "B")
    asyncio.run(AloePairwiseJudge(ScriptedModel(script=script)).compare([_pair(HIST)]))
    text = seen[0][0].content
    assert PAIR_MARKER in text and P.profile in text and P.personality in text and "USER MSG" in text
    assert text.index("Reply A") < text.index("FIRST REPLY") < text.index("Reply B") < text.index("SECOND REPLY")
    assert "EARLIER MSG" not in text
    asyncio.run(AloePairwiseJudge(ScriptedModel(script=script), mode="history").compare([_pair(HIST)]))
    assert "EARLIER MSG" in seen[1][0].content and "EARLIER REPLY" in seen[1][0].content
    with pytest.raises(ConfigError):
        AloePairwiseJudge(ScriptedModel(), mode="essay")


def test_pair_judge_reasks_with_a_new_seed_and_sums_usage():
    script, seen = _answers("Hmm, hard to say.", "B\nWarmer.")
    backend = ScriptedModel(script=script)
    params = []
    original = backend.acomplete

    async def spy(messages, p):
        params.append(p)
        return await original(messages, p)

    backend.acomplete = spy
    v = asyncio.run(AloePairwiseJudge(backend).compare([_pair()]))[0]
    assert v.winner == "B" and v.rationale == "Warmer." and v.raw == "B\nWarmer." and v.attempts == 2
    assert v.error is None and v.usage.calls == 2
    assert v.usage.completion_tokens == len("Hmm, hard to say.".split()) + len("B\nWarmer.".split())
    assert v.usage.prompt_tokens == sum(len(m.content.split()) for chat in seen for m in chat)
    assert [p.seed for p in params] == [0, 1] and params[0].max_tokens == 80
    retry = seen[1]
    assert [m.role for m in retry] == ["user", "assistant", "user"]
    assert retry[1].content == "Hmm, hard to say." and retry[2].content == load_prompt(RETRY_PROMPT).strip()


def test_pair_judge_unreadable_after_retries_is_a_null_without_error():
    script, _ = _answers("hmm", "well", "no idea")
    backend = ScriptedModel(script=script)
    v = asyncio.run(AloePairwiseJudge(backend, max_retries=2).compare([_pair()]))[0]
    assert v.winner is None and v.error is None and v.raw == "no idea" and v.attempts == 3
    assert v.usage.calls == 3 and backend.calls == 3


def test_pair_judge_failed_call_keeps_the_error():
    backend = ScriptedModel(fail=lambda m: "boom")
    v = asyncio.run(AloePairwiseJudge(backend, max_retries=1).compare([_pair()]))[0]
    assert v.winner is None and v.error == "boom" and v.attempts == 2 and v.usage.calls == 2
    # a failure then a good answer: a verdict
    state = {"n": 0}

    def fail_once(messages):
        state["n"] += 1
        return "flaky" if state["n"] == 1 else None

    v = asyncio.run(AloePairwiseJudge(ScriptedModel(script=lambda m: "tie", fail=fail_once)).compare([_pair()]))[0]
    assert v.winner == "tie" and v.error is None and v.attempts == 2 and v.usage.calls == 2


def test_pair_judge_batches_keep_order():
    answers = {"one": "A", "two": "B", "three": "tie"}
    backend = ScriptedModel(script=lambda m: next(v for k, v in answers.items() if f"MSG {k}" in m[0].content))
    reqs = [_pair().model_copy(update={"user_message": f"MSG {k}"}) for k in answers]
    assert [v.winner for v in asyncio.run(AloePairwiseJudge(backend).compare(reqs))] == ["A", "B", "tie"]


def test_pair_judge_describe():
    d = AloePairwiseJudge(ScriptedModel(), mode="history").describe()
    assert d["kind"] == "aloe-pairwise" and d["options"]["mode"] == "history" and d["options"]["max_retries"] == 2
    assert d["options"]["params"]["max_tokens"] == 80 and d["options"]["params"]["temperature"] is None
    assert d["prompt_hashes"] == {PAIR_PROMPTS["history"]: prompt_hash(PAIR_PROMPTS["history"]),
                                  RETRY_PROMPT: prompt_hash(RETRY_PROMPT)}
    assert isinstance(AloePairwiseJudge(ScriptedModel()), PairwiseJudge)


# -- responders ------------------------------------------------------------------------------------

def test_hinted_and_unhinted_differ_only_by_the_hint():
    script, seen = _answers("Assistant: Lyon sounds lovely!", "Chatbot: Nice!", "**Assistant:** Sure.")
    backend = ScriptedModel(script=script)
    req = RespondRequest(history=HIST, user_message="USER MSG", hint="Profile: nurse.\nPersonality: blunt.", turn=2)
    hinted, unhinted = AloeResponder(backend, hinted=True), AloeResponder(backend, hinted=False)
    assert (hinted.name, unhinted.name) == ("aloe-hinted", "aloe-unhinted")
    assert asyncio.run(hinted.respond([req]))[0].text == "Lyon sounds lovely!"
    assert asyncio.run(unhinted.respond([req]))[0].text == "Nice!"
    for chat in seen[:2]:
        assert [m.role for m in chat] == ["system", "user", "assistant", "user"]
        assert [m.content for m in chat[1:]] == ["EARLIER MSG", "EARLIER REPLY", "USER MSG"]
    assert HINT_MARKER in seen[0][0].content and "Profile: nurse.\nPersonality: blunt." in seen[0][0].content
    assert HINT_MARKER not in seen[1][0].content and "nurse" not in seen[1][0].content
    assert seen[1][0].content == load_prompt("responder_unhinted.v1").strip()
    # a hinted responder without an induced persona says so; an unhinted one ignores a hint
    assert hinted.system_prompt(None) == hinted.system_prompt("  ") and f"{HINT_MARKER}" in hinted.system_prompt(None)
    assert "\nNone\n" in hinted.system_prompt(None)
    assert unhinted.system_prompt("secret") == unhinted.system_prompt(None)
    assert asyncio.run(unhinted.respond([req]))[0].text == "Sure."


def test_clean_reply():
    assert clean_reply("  Assistant: Hi there ") == "Hi there"
    assert clean_reply("chatbot:Hello") == "Hello"
    assert clean_reply("The assistant: part stays") == "The assistant: part stays"


def test_responder_reasks_an_empty_reply_then_errors():
    script, _ = _answers("Assistant:  ", "Hello!")
    r = asyncio.run(AloeResponder(ScriptedModel(script=script), hinted=False).respond(
        [RespondRequest(history=[], user_message="hi")]))[0]
    assert r.ok and r.text == "Hello!" and r.attempts == 2 and r.usage().calls == 2
    script, _ = _answers("", "  ")
    r = asyncio.run(AloeResponder(ScriptedModel(script=script), hinted=True, max_retries=1).respond(
        [RespondRequest(history=[], user_message="hi", hint="x")]))[0]
    assert not r.ok and r.error == "responder wrote an empty reply" and r.attempts == 2


def test_responder_describe():
    for hinted, prompt in ((True, "responder_hinted.v1"), (False, "responder_unhinted.v1")):
        resp = AloeResponder(ScriptedModel(), hinted=hinted, params=GenerationParams(max_tokens=99))
        d = resp.describe()
        assert d["kind"] == resp.name and d["options"]["hinted"] is hinted
        assert d["options"]["params"]["max_tokens"] == 99 and d["prompt_hashes"] == {prompt: prompt_hash(prompt)}
        assert isinstance(resp, Responder)


# -- induction -------------------------------------------------------------------------------------

def _ind():
    return InductionRequest(persona=P, dialogue=HIST + [Message(role="user", content="CURRENT MSG")], turn=2)


def test_induction_prompt_and_retry_on_empty():
    script, seen = _answers("   ", "Profile: She is a nurse.\nPersonality: None")
    backend = ScriptedModel(script=script)
    params = []
    original = backend.acomplete

    async def spy(messages, p):
        params.append(p.seed)
        return await original(messages, p)

    backend.acomplete = spy
    r = asyncio.run(AloeInduction(backend).induce([_ind()]))[0]
    assert r.ok and r.text == "Profile: She is a nurse.\nPersonality: None" and r.attempts == 2
    assert params == [0, 1] and r.usage().calls == 2
    (msg,) = seen[0]
    assert msg.role == "user" and INDUCTION_MARKER in msg.content
    for part in (P.profile, P.personality, "EARLIER MSG", "EARLIER REPLY", "CURRENT MSG"):
        assert part in msg.content
    script, _ = _answers("", "")
    r = asyncio.run(AloeInduction(ScriptedModel(script=script), max_retries=1).induce([_ind()]))[0]
    assert not r.ok and r.error == "induction model wrote an empty answer" and r.attempts == 2


def test_induction_failed_call_and_describe():
    r = asyncio.run(AloeInduction(ScriptedModel(fail=lambda m: "down"), max_retries=0).induce([_ind()]))[0]
    assert r.error == "down" and r.attempts == 1
    d = AloeInduction(ScriptedModel()).describe()
    assert d["kind"] == "aloe-induction" and d["prompt_hashes"] == {INDUCTION_PROMPT: prompt_hash(INDUCTION_PROMPT)}
    assert d["options"]["max_retries"] == 1
    assert isinstance(AloeInduction(ScriptedModel()), Induction)


@pytest.mark.parametrize("text,parts", [
    ("Profile: She is a nurse.\nPersonality: She is blunt.", ("She is a nurse.", "She is blunt.")),
    ("Profile: None\nPersonality: None", (None, None)),
    ("Profile: None.\nPersonality: blunt", (None, "blunt")),
    ("**Profile:** nurse in Lyon\n**Personality:** none evident", ("nurse in Lyon", None)),
    ("Personality: funny\nProfile: nurse", ("nurse", "funny")),
    ("Profile:\n- nurse\n- lives in Lyon\nPersonality traits: N/A", ("nurse\nlives in Lyon", None)),
    ("Profile: nurse", ("nurse", None)),
    ("She seems to be a nurse.", (None, None)),
    ("", (None, None)),
])
def test_split_induced(text, parts):
    assert split_induced(text) == parts


# -- registration and the scripted backend ---------------------------------------------------------

def test_registry_entries_and_builders():
    host = PluginHost(load_entrypoints=False)
    pair = host.judges.get("aloe-pairwise")
    assert pair.meta["task"] == "pairwise" and pair.plugin == "core.roles"
    assert host.judges.get("aloe").meta["task"] == "score"
    roles = {e.name: e.meta["role"] for e in host.generation_protocols}
    assert {"aloe-induction": "induction", "aloe-hinted": "responder", "aloe-unhinted": "responder"}.items() <= roles.items()
    assert host.judges.get_for("aloe-pairwise", "task", "pairwise", what="--pair-judge-protocol") is pair
    with pytest.raises(ConfigError, match="pairwise"):
        host.judges.get_for("aloe", "task", "pairwise", what="--pair-judge-protocol")
    backend = ScriptedModel()
    params = GenerationParams(max_tokens=42)
    judge = build_judge("aloe-pairwise", backend, host=host, mode="history", params=params)
    assert isinstance(judge, AloePairwiseJudge) and judge.mode == "history" and judge.params.max_tokens == 42
    hinted = build_generation_protocol("aloe-hinted", backend, host=host, params=params, max_retries=3)
    assert hinted.hinted and hinted.max_retries == 3 and hinted.params.max_tokens == 42
    assert not build_generation_protocol("aloe-unhinted", backend, host=host).hinted
    assert isinstance(build_generation_protocol("aloe-induction", backend, host=host), AloeInduction)
    with pytest.raises(ConfigError, match="takes no option"):
        build_generation_protocol("aloe-hinted", backend, host=host, hinted=False)


def test_scripted_backend_answers_the_new_prompts():
    backend = ScriptedModel()
    reqs = [PairRequest(persona=P, history=[], user_message=f"message {i}", first="x", second="y", turn=1)
            for i in range(40)]
    verdicts = asyncio.run(AloePairwiseJudge(backend).compare(reqs))
    winners = [v.winner for v in verdicts]
    assert all(v.attempts == 1 for v in verdicts) and set(winners) <= {"A", "B", "tie"}
    assert winners.count("A") + winners.count("B") > winners.count("tie") and {"A", "B"} <= set(winners)
    assert winners == [v.winner for v in asyncio.run(AloePairwiseJudge(ScriptedModel()).compare(reqs))]
    # the retry prompt is recognised too
    assert parse_pair_verdict(default_script([Message(role="user", content=load_prompt(RETRY_PROMPT))]))
    text = asyncio.run(AloeInduction(backend).induce([_ind()]))[0].text
    profile, _ = split_induced(text)
    assert text.startswith("Profile: ") and "\nPersonality: " in text and profile
    # everything else as before
    assert default_script([Message(role="user", content="hello")]).startswith("Scripted message ")
    assert default_script([Message(role="user", content="Rate the reply from 1 to 5")])[0] in "12345"
