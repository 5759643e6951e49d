"""The ALOE simulator and judge over chat backends."""

import asyncio

import pytest

from aloe_bench.components import ChatModel, JudgeRequest, Reply, SimRequest
from aloe_bench.errors import ConfigError
from aloe_bench.protocols.judges import AloeJudge, parse_score, split_rationale
from aloe_bench.records import Message, Persona
from aloe_bench.protocols.simulators import AloeSimulator, clean_user_message
from aloe_bench.testing import ScriptedModel

P = Persona(id="p", profile="She is a 41-year-old nurse in Lyon.", personality="She is blunt. She is funny.")


@pytest.mark.parametrize("text,score", [
    ("4", 4), ("Score: 4", 4), ("**4**", 4), ("4/5", 4), ("4 out of 5", 4), ('{"score": 3, "why": "ok"}', 3),
    ("Rating: 5\nGreat.", 5), ("score = 2", 2), ("  3\nbecause", 3), ("3.5", 3.5), ("The score is 4.", 4),
    ("7", None), ("10/10", None), ("0", None), ("", None), ("I cannot rate this.", None), ("80%", None),
])
def test_parse_score(text, score):
    assert parse_score(text) == score


def test_split_rationale():
    assert split_rationale("4\nFits her humour.") == "Fits her humour."
    assert split_rationale("4 - fits her humour") == "fits her humour"


def test_clean_user_message():
    assert clean_user_message('User: "Hey there!"') == "Hey there!"
    assert clean_user_message("Hi! Long day at the ward.\nAssistant: Oh no!") == "Hi! Long day at the ward."
    assert clean_user_message("  just text ") == "just text"


class Recorder(ChatModel):
    def __init__(self, answers):
        self.spec, self.answers, self.seen = "rec", list(answers), []

    async def acomplete(self, messages, params):
        self.seen.append((list(messages), params))
        return Reply(text=self.answers.pop(0))


def test_simulator_mirrors_roles_and_speaks_first():
    backend = Recorder(["Hey, how are you?", "Work was long."])
    sim = AloeSimulator(backend)
    first = asyncio.run(sim.next_messages([SimRequest(persona=P, history=[], turn=1, total_turns=3)]))
    assert first[0].text == "Hey, how are you?"
    msgs, _ = backend.seen[0]
    assert msgs[0].role == "system" and P.profile in msgs[0].content and P.personality in msgs[0].content
    assert [m.role for m in msgs[1:]] == ["user"]
    hist = [Message(role="user", content="Hey, how are you?"), Message(role="assistant", content="Great, you?")]
    asyncio.run(sim.next_messages([SimRequest(persona=P, history=hist, turn=2, total_turns=3)]))
    msgs, _ = backend.seen[1]
    assert [(m.role, m.content) for m in msgs[2:]] == [("assistant", "Hey, how are you?"), ("user", "Great, you?")]


def test_simulator_retries_empty_then_errors():
    sim = AloeSimulator(Recorder(['""', "  "]), max_retries=1)
    out = asyncio.run(sim.next_messages([SimRequest(persona=P, history=[], turn=1, total_turns=1)]))
    assert out[0].error == "simulator wrote an empty message"


def _req(mode_history=()):
    return JudgeRequest(persona=P, history=list(mode_history), user_message="hi", reply="hello!", turn=1)


def test_text_judge_reasks_then_records_missing():
    backend = Recorder(["Lovely!", "Score: 4\nFits."])
    v = asyncio.run(AloeJudge(backend).score([_req()]))[0]
    assert v.score == 4 and v.attempts == 2 and v.rationale == "Fits."
    retry_msgs, params = backend.seen[1]
    assert retry_msgs[-2].content == "Lovely!" and "could not be read" in retry_msgs[-1].content
    assert params.seed == 1  # a fresh sample, not the cached answer
    backend = Recorder(["nope", "nah", "no"])
    v = asyncio.run(AloeJudge(backend, max_retries=2).score([_req()]))[0]
    assert v.score is None and v.raw == "no" and v.attempts == 3


def test_history_mode_shows_dialogue():
    backend = Recorder(["5"])
    hist = [Message(role="user", content="EARLIER MSG"), Message(role="assistant", content="EARLIER REPLY")]
    asyncio.run(AloeJudge(backend, mode="history").score([_req(hist)]))
    text = backend.seen[0][0][0].content
    assert "EARLIER MSG" in text and "EARLIER REPLY" in text
    backend = Recorder(["5"])
    asyncio.run(AloeJudge(backend, mode="turn").score([_req(hist)]))
    assert "EARLIER MSG" not in backend.seen[0][0][0].content


class ProbModel(ChatModel):
    supports_choice_probs = True

    def __init__(self, probs):
        self.spec, self.probs = "probs", probs

    async def achoice_probs(self, batch, choices, params):
        return [self.probs for _ in batch]

    async def acomplete(self, messages, params):
        return Reply(text="2\nfallback")


def test_probability_judge_weighted_mean_and_argmax():
    v = asyncio.run(AloeJudge(ProbModel({"1": 0.0, "2": 0.1, "3": 0.2, "4": 0.6, "5": 0.1})).score([_req()]))[0]
    assert v.score == pytest.approx(3.7) and v.argmax == 4
    assert sum(v.probs.values()) == pytest.approx(1.0)


def test_probability_judge_falls_back_to_text_when_no_logprobs():
    v = asyncio.run(AloeJudge(ProbModel(None)).score([_req()]))[0]
    assert v.score == 2


def test_judge_options_are_validated():
    with pytest.raises(ConfigError, match="judge mode"):
        AloeJudge(ScriptedModel(), mode="both")
    with pytest.raises(ConfigError, match="cannot return answer probabilities"):
        AloeJudge(ScriptedModel(), use_probs=True)
