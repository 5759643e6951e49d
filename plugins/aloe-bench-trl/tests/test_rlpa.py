"""`aloe-bench train rlpa`: per-turn GRPO on a tiny random policy, with the simulated user and both
reward judges served over HTTP by the project's OpenAI-compatible server; a scripted output path
(well-formed, partly right, malformed) so both rewards are exercised; the groups, the continuation
and the shared conversation state; train.json, rollouts.jsonl; the checkpoint evaluated with
``--reply-format rlpa --profile-probe``; one-line errors for bad configs."""

from __future__ import annotations

import hashlib
import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "tests"))
from helpers import run_cli, run_served, served_env, serving  # noqa: E402

from aloe_bench.errors import ConfigError  # noqa: E402
from aloe_bench.protocols.coverage import COVERAGE_MARKER  # noqa: E402
from aloe_bench.protocols.engagement import ENGAGEMENT_MARKER  # noqa: E402
from aloe_bench.testing.openai_server import message_text  # noqa: E402

API_KEY = "sk-rlpa-5d0c7e2a91b3f846"
SIM_MARKER = "You are playing a real person"
JUDGE_MARKER = "Rate the reply from 1 to 5"
#: persona id -> (profile, personality, golden facts, the keyword of each fact the judge looks for)
PEOPLE = {"ana": ("Ana is a nurse in Lisbon who loves surfing. She has two cats.", "Warm.",
                  ["Is a nurse", "Lives in Lisbon", "Loves surfing", "Has two cats"], ["nurse", "lisbon", "surf", "cat"]),
          "bo": ("Bo keeps goats at the city zoo. He is 61. He plays the tuba.", "Terse.",
                 ["Keeps goats", "Works at the zoo", "Is 61 years old", "Plays the tuba"], ["goat", "zoo", "61", "tuba"])}


def write_people(folder: Path) -> tuple[Path, Path]:
    """A persona file and its facts file (4 golden facts each)."""
    personas, facts = folder / "people.jsonl", folder / "facts.jsonl"
    personas.write_text("".join(json.dumps({"id": pid, "profile": prof, "personality": pers}) + "\n"
                                for pid, (prof, pers, _, _) in PEOPLE.items()), encoding="utf-8")
    facts.write_text("".join(json.dumps({"schema_version": 1, "facts": golden,
                                         "profile_sha256": hashlib.sha256(prof.strip().encode()).hexdigest()}) + "\n"
                             for prof, _, golden, _ in PEOPLE.values()), encoding="utf-8")
    return personas, facts


def roles_script(messages) -> str:
    """Every served role: the simulated user says who it is and which turn it is on; the coverage
    judge counts the inferred lines naming a fact's keyword; the engagement judge says yes to a
    reply with a question; the 1-5 judge gives 4."""
    first, last = message_text(messages[0]), message_text(messages[-1])
    if COVERAGE_MARKER in first:
        golden_part, inferred = first.split("inferred profile:", 1)
        keywords = [k for _, _, _, keys in PEOPLE.values() for k in keys if k in golden_part.lower()]
        lines = re.findall(r"^- (.*)$", inferred.split(COVERAGE_MARKER)[0], re.M)
        return f"Covered: {sum(any(k in line.lower() for line in lines) for k in keywords)}"
    if ENGAGEMENT_MARKER in first:
        reply = first.split("latest reply:", 1)[1].split("Would this person", 1)[0]
        return "Yes\nIt asks something." if "?" in reply else "No\nNothing to answer."
    if JUDGE_MARKER in first or JUDGE_MARKER in last:
        return "4\nFine."
    if SIM_MARKER in first:
        who = "Ana" if "Ana is" in first else "Bo"
        turn = sum(message_text(m) and m["role"] == "assistant" for m in messages) + 1
        return f"I am {who}, turn {turn}. I love my {'cats' if who == 'Ana' else 'goats'}."
    return "Hello."


def scripted_outputs(texts, keys):
    """The policy's outputs for one generation, per group of 4: a right profile and a question
    (profile 2 facts, response 1), a half-right profile and no question, a malformed output, and
    the tiny model's own text (malformed unless by chance)."""
    out = []
    for i, (text, (cid, turn)) in enumerate(zip(texts, keys)):
        first, second = PEOPLE[cid][3][:2]
        out.append([f"<profile>\n- {first}\n- {second}\n</profile>\n<response>Turn {turn}: how was it?</response>",
                    f"<profile>\n- {first}\n- likes tea\n</profile>\n<response>Nice.</response>",
                    "<response>No profile here.</response>",
                    text][i % 4])
    return out


@pytest.fixture(scope="module")
def server():
    """The project's OpenAI-compatible server on 127.0.0.1 for this module."""
    from aloe_bench.testing.openai_server import OpenAICompatServer

    with OpenAICompatServer() as running:
        yield running


@pytest.fixture
def srv(server):
    """The module's server answering every role with :func:`roles_script`."""
    with serving(server, roles_script) as served:
        yield served


@pytest.fixture
def env(server, tmp_path, monkeypatch):
    """This process and CLI subprocesses reach the server as ``openai/NAME`` (own cache folder)."""
    monkeypatch.setenv("OPENAI_API_BASE", server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    monkeypatch.setenv("ALOE_BENCH_CACHE_DIR", str(tmp_path / "cache"))
    return served_env(server, tmp_path, API_KEY)


def settings(tiny_model_dir: Path, people: Path, facts: Path, **extra) -> dict:
    """A config dict: 2 conversations x 2 turns, 4 samples per turn, every role served."""
    trl = {"max_steps": 4, "max_completion_length": 12, "learning_rate": 1e-3, **extra.pop("trl", {})}
    return {"model": f"hf:{tiny_model_dir}", "personas": f"jsonl:{people}", "facts": str(facts),
            "user": "openai/sim", "profile_judge": "openai/coverage", "response_judge": "openai/engagement",
            "turns": 2, "samples": 4, "cache": False, "trl": trl, **extra}


def train_rlpa(config: dict, output: Path, script=scripted_outputs, resume: bool = False) -> dict:
    """Run the rlpa trainer in-process (its factory's class, with the output script)."""
    from aloe_bench_trl.rlpa import RLPARunner

    runner = RLPARunner(script=script)
    return runner.train(runner.config_class.model_validate(config), output=output, resume=resume, quiet=True)


def rows(path: Path) -> list[dict]:
    """The lines of a JSONL file."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture
def trained(tiny_model_dir, srv, env, tmp_path):
    """Four GRPO steps (2 conversations x 2 turns) with the scripted outputs."""
    people, facts = write_people(tmp_path)
    out = tmp_path / "rlpa"
    result = train_rlpa(settings(tiny_model_dir, people, facts), out)
    return out, result, people, facts


def test_rlpa_trains_on_served_rewards_and_the_checkpoint_is_evaluated(trained, srv, env, tmp_path):
    """Both rewards from served judges, exact per step; the best output continues; the user sees
    only responses; the checkpoint is evaluated with --reply-format rlpa --profile-probe."""
    out, result, people, facts = trained
    rec = json.loads((out / "train.json").read_text())
    assert rec["status"] == "complete" and rec["trainer"] == "rlpa" and rec["global_steps"] == 4
    assert (out / "config.json").is_file() and (out / "model.safetensors").is_file()
    args = rec["trl_args"]
    assert (args["num_generations"], args["beta"], args["reward_weights"], args["shuffle_dataset"]) == \
        (4, 0.01, [1.0, 1.0], False)
    # Every step is one group (a conversation's turn) of the 4 scripted outputs: profile F1 of 2 right
    # lines of 2 against 4 golden facts, of 1 right line of 2, then two malformed outputs (0).
    f1_right, f1_half = 2 * (2 / 2) * (2 / 4) / (1 + 2 / 4), 2 * (1 / 2) * (1 / 4) / (1 / 2 + 1 / 4)
    for step in rec["steps"]:
        assert step["rewards/profile/mean"] == pytest.approx((f1_right + f1_half) / 4, abs=1e-6)
        assert step["rewards/response/mean"] == pytest.approx(1 / 4)
        assert step["reward"] == pytest.approx(step["rewards/profile/mean"] + step["rewards/response/mean"])
        assert step["rlpa/format_error_rate"] >= 0.25 and "kl" in step and "loss" in step
        assert step["rlpa/profile_judge_calls"] == 2 and step["rlpa/response_judge_calls"] == 2
    assert rec["rollouts"]["groups"] == 4 and rec["rollouts"]["samples"] == 16 and rec["rollouts"]["unscorable"] == 0
    assert rec["rollouts"]["judge_calls"] == {"profile": 8, "response": 8}
    assert rec["rollouts"]["user_calls"] == 4 == sum(SIM_MARKER in message_text(r["json"]["messages"][0])
                                                     for r in srv.chat_requests())
    assert [s["rlpa/user_calls"] for s in rec["steps"]] == [2.0, 2.0, 0.0, 0.0]  # an opening and a next message
    assert len(srv.chat_requests(COVERAGE_MARKER)) == 8
    assert rec["policy_prompt"]["name"] == "rlpa_policy.v1" and rec["golden_facts"]["origins"]["file"] == 2
    assert result["evaluate_settings"] == {"reply_format": "rlpa", "profile_probe": True}

    # The groups are turns; the best output continues; the user sees only the response.
    log = rows(out / "rollouts.jsonl")
    assert [(g["conversation_id"], g["turn"]) for g in log] == [("ana", 1), ("bo", 1), ("ana", 2), ("bo", 2)]
    assert all(g["chosen"] == 0 and g["samples"][2]["malformed"] for g in log)
    assert log[0]["reply"] == "Turn 1: how was it?" and log[0]["next_user"] == "I am Ana, turn 2. I love my cats."
    assert log[2]["user"] == log[0]["next_user"] and "next_user" not in log[2]
    sim_turn2 = [r for r in srv.chat_requests() if SIM_MARKER in json.dumps(r["json"]["messages"])
                 and "Turn 1: how was it?" in json.dumps(r["json"]["messages"])]
    assert sim_turn2 and all("<profile>" not in json.dumps(r["json"]["messages"]) for r in sim_turn2)

    # Done when: evaluate --reply-format rlpa --profile-probe loads and scores the checkpoint.
    proc = run_served(env, "evaluate", "--model", f"hf:{out}", "--user", "openai/sim", "--judge", "openai/judge",
                      "--reply-format", "rlpa", "--profile-probe", "--profile-judge", "openai/coverage",
                      "--personas", f"jsonl:{people}", "--facts", str(facts), "--turns", "2", "--no-cache", "-q",
                      "--bootstrap", "50",
                      "-o", str(tmp_path / "eval"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = json.loads((tmp_path / "eval" / "summary.json").read_text())
    assert summary["status"] == "complete" and summary["n"] == [2, 2] and summary["pf1_n"] == [2, 2]
    assert summary["pf1_source"] == "reply"


def test_a_failed_judge_call_makes_the_sample_unscorable_never_zero():
    """A sample whose judge failed gets None for both rewards (no advantage, out of the group's
    baseline), is counted, and cannot be chosen to continue while another is scorable."""
    from aloe_bench.components import RewardResult
    from aloe_bench.records import Persona
    from aloe_bench_trl.rollouts import Dialogue, RLPARollouts

    class Fixed:
        """A reward with fixed values (None: a failed judge call)."""

        def __init__(self, name, values):
            self.name, self.values = name, values

        async def reward(self, requests):
            return [RewardResult(value=v, error=None if v is not None else "HTTP 500") for v in self.values]

    people = {"ana": Dialogue(persona=Persona(id="ana", profile="p", personality="q"), golden=["a"],
                              users=["hi"])}
    rollouts = RLPARollouts(people, simulator=None, rewards=[Fixed("profile", [0.2, 0.9, 0.5, None]),
                                                             Fixed("response", [1.0, None, 0.0, 1.0])],
                            turns=1, weights=(1.0, 1.0), choose="best", seed=0, history="latest", log_path=None)
    texts = ["<profile>\n- a\n</profile>\n<response>R?</response>"] * 4
    scored = rollouts._score(texts, [("ana", 1)] * 4)
    assert [(s["profile"], s["response"]) for s in scored] == [(0.2, 1.0), (None, None), (0.5, 0.0), (None, None)]
    [update] = rollouts._continue([("ana", 1)], texts, scored, 4, step=0)
    assert update["chosen"] == 0 and [s["total"] for s in update["samples"]] == [1.2, None, 0.5, None]
    assert rollouts._stats([update])["unscorable"] == 2 and len(rollouts.totals.judge_errors) == 2


def test_groups_split_or_out_of_order_are_refused():
    """A group split by the batch or a turn asked before the previous one is an error."""
    from aloe_bench.records import Persona
    from aloe_bench_trl.rollouts import Dialogue, RLPARollouts, RolloutError, check_groups

    assert check_groups(["a|1"] * 4 + ["b|1"] * 4, 4) == [("a", 1), ("b", 1)]
    with pytest.raises(RolloutError, match="not a multiple of the group size"):
        check_groups(["a|1"] * 6, 4)
    with pytest.raises(RolloutError, match="a group is split"):
        check_groups(["a|1"] * 2 + ["b|1"] * 2, 4)
    rollouts = RLPARollouts({"a": Dialogue(persona=Persona(id="a", profile="p", personality="q"), golden=[])},
                            simulator=None, rewards=[], turns=3, weights=(1, 1), choose="best", seed=0,
                            history="latest", log_path=None)
    with pytest.raises(RolloutError, match="asked for turn 3 after 0 turn"):
        rollouts._check_turn("a", 3)


@pytest.mark.parametrize("extra,message", [
    ({"trl": {"num_generations": 8}}, "[trl].num_generations = 8 contradicts samples = 4"),
    ({"trl": {"reward_weights": [1, 2]}}, "[trl].reward_weights is set by the rlpa trainer"),
    ({"trl": {"shuffle_dataset": True}}, "[trl].shuffle_dataset is set by the rlpa trainer"),
    ({"trl": {"per_device_train_batch_size": 6}}, "must be divisible by num_generations (4)"),
    ({"trl": {"per_device_train_batch_size": 12}}, "do not fill whole generation batches of 3 group(s)"),
    ({"user": "nosuch:thing"}, "nosuch"),
])
def test_bad_configs_are_refused_before_anything_is_written(tiny_model_dir, tmp_path, extra, message):
    """One-line ConfigErrors, raised before train.json is written."""
    people, facts = write_people(tmp_path)
    config = settings(tiny_model_dir, people, facts)
    config["trl"].update(extra.pop("trl", {}))
    config.update(extra)
    with pytest.raises(ConfigError) as info:
        train_rlpa(config, tmp_path / "out")
    assert message in str(info.value)
    assert not (tmp_path / "out" / "train.json").exists()


def test_show_config_and_help_list_rlpa():
    """--show-config prints the keys (``continue`` by its file name) and the GRPO defaults."""
    env = {"HF_HUB_OFFLINE": "1", "LITELLM_LOCAL_MODEL_COST_MAP": "True", "COLUMNS": "200"}
    proc = run_cli("train", "rlpa", "--show-config", env=env)
    assert proc.returncode == 0, proc.stderr
    for text in ('continue = "best"', "turns = 10", "samples = 4", "learning_rate = 5e-07", "beta = 0.01",
                 "[reward_weights]", 'personas = "aloe-train"', "[lora]"):
        assert text in proc.stdout, text
    assert "rlpa" in run_cli("train", "--help", env=env).stdout


def test_resume_rebuilds_the_conversations_from_rollouts_jsonl(tiny_model_dir, srv, env, tmp_path, monkeypatch):
    """Stopped after step 3 with a checkpoint at step 2: the resumed run replays the groups made
    before step 2 and plays turn 2 of ana again from the same user message."""
    from aloe_bench_trl.callbacks import RichProgressCallback

    people, facts = write_people(tmp_path)
    out = tmp_path / "rlpa"
    config = settings(tiny_model_dir, people, facts, trl={"save_steps": 2})

    def stop_at_3(self, args, state, control, **kwargs):
        """Interrupt after step 3."""
        if state.global_step == 3:
            raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(RichProgressCallback, "on_step_end", stop_at_3)
        with pytest.raises(KeyboardInterrupt):
            train_rlpa(config, out)
    assert json.loads((out / "train.json").read_text())["status"] == "interrupted"
    train_rlpa(config, out, resume=True)
    rec = json.loads((out / "train.json").read_text())
    assert rec["status"] == "complete" and rec["resumed"] == 1 and rec["global_steps"] == 4
    assert rec["rollouts"]["groups"] == 4  # the 2 replayed groups and the 2 played after the checkpoint
    log = rows(out / "rollouts.jsonl")
    assert [(g["conversation_id"], g["turn"], g["step"]) for g in log] == \
        [("ana", 1, 0), ("bo", 1, 1), ("ana", 2, 2), ("ana", 2, 2), ("bo", 2, 3)]
    assert log[3]["user"] == log[0]["next_user"] and log[4]["user"] == log[1]["next_user"]


def test_the_cli_trains_and_then_evaluates_with_the_rlpa_reply_format(tiny_model_dir, srv, env, tmp_path):
    """`aloe-bench train rlpa --config FILE --then-evaluate`: the tiny policy's own (malformed)
    outputs get reward 0 without a judge call; tuned and base are evaluated with --reply-format
    rlpa and PF1 from the replies."""
    people, facts = write_people(tmp_path)
    config = tmp_path / "rlpa.toml"
    config.write_text(f'model = "hf:{tiny_model_dir}"\npersonas = "jsonl:{people}"\nfacts = "{facts}"\n'
                      'user = "openai/sim"\nprofile_judge = "openai/coverage"\nresponse_judge = "openai/engagement"\n'
                      'turns = 2\nsamples = 2\ncontinue = "random"\ncache = false\n'
                      '[trl]\nmax_steps = 2\nmax_completion_length = 8\n', encoding="utf-8")
    evaluation = tmp_path / "eval.toml"
    evaluation.write_text(f'user = "openai/sim"\njudge = "openai/judge"\npersonas = "jsonl:{people}"\n'
                          f'facts = "{facts}"\nprofile_judge = "openai/coverage"\nturns = 2\ncache = false\n'
                          'bootstrap = 50\nmodel_params = {max_tokens = 8}\n', encoding="utf-8")
    out = tmp_path / "out"
    proc = run_served(env, "train", "rlpa", "--config", str(config), "-o", str(out), "-q", "--then-evaluate",
                      str(evaluation), timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rec = json.loads((out / "train.json").read_text())
    assert rec["status"] == "complete" and rec["config"]["continue"] == "random" and rec["trl_args"]["num_generations"] == 2
    assert rec["rollouts"]["samples"] == 4 and rec["steps"][0]["rewards/profile/mean"] == 0.0
    for which in ("tuned", "base"):
        run = json.loads((out / "eval" / which / "run.json").read_text())
        assert run["reply_format"]["name"] == "rlpa", which
        summary = json.loads((out / "eval" / which / "summary.json").read_text())
        assert summary["status"] == "complete" and summary["pf1_source"] == "reply"
    assert (out / "eval" / "comparison.json").is_file() and "Tuned minus base" in proc.stdout


def test_a_group_split_across_processes_is_refused_before_loading(tmp_path):
    """Under 2 processes, 1 sample per device makes TRL's global batch divisible by samples = 2
    while each process would hold half a group: refused by the trainer itself."""
    from types import SimpleNamespace

    from aloe_bench_trl.config import RLPATrainConfig
    from aloe_bench_trl.rlpa import RLPARunner

    runner = RLPARunner()
    runner.personas = [object()] * 4
    config = RLPATrainConfig(samples=2)
    with pytest.raises(ConfigError, match="is not a multiple of samples = 2"):
        runner.check_args(config, SimpleNamespace(per_device_train_batch_size=1, steps_per_generation=1), [], 2)
    with pytest.raises(ConfigError, match="4 conversation.* do not fill whole generation batches of 8"):
        runner.check_args(config, SimpleNamespace(per_device_train_batch_size=8, steps_per_generation=1), [], 2)
    runner.check_args(config, SimpleNamespace(per_device_train_batch_size=2, steps_per_generation=1), [], 2)


def test_two_processes_keep_groups_whole_and_share_the_conversations(tiny_model_dir, srv, env, tmp_path):
    """Two processes (torchrun): each process plays one conversation's turn per step
    (the groups are checked whole on every call); the main process logs both, the other process's
    group reaching it through the shared state."""
    import os
    import subprocess

    people, facts = write_people(tmp_path)
    config = tmp_path / "rlpa.toml"
    config.write_text(f'model = "hf:{tiny_model_dir}"\npersonas = "jsonl:{people}"\nfacts = "{facts}"\n'
                      'user = "openai/sim"\nprofile_judge = "openai/coverage"\nresponse_judge = "openai/engagement"\n'
                      'turns = 2\nsamples = 2\ncache = false\n'
                      '[trl]\nmax_steps = 2\nmax_completion_length = 8\n', encoding="utf-8")
    # `accelerate launch --cpu --num_processes 2` starts one process on this machine; torchrun starts two.
    launcher = Path(sys.executable).parent / "torchrun"
    proc = subprocess.run([str(launcher), "--nproc_per_node", "2", "-m", "aloe_bench", "train", "rlpa",
                           "--config", str(config), "-o", str(tmp_path / "out"), "-q"],
                          capture_output=True, text=True, timeout=300, env={**os.environ, **env, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rec = json.loads((tmp_path / "out" / "train.json").read_text())
    assert rec["status"] == "complete" and rec["global_steps"] == 2 and rec["effective_batch_size"] == 4
    log = rows(tmp_path / "out" / "rollouts.jsonl")
    assert [(g["conversation_id"], g["turn"], g["step"]) for g in log] == \
        [("ana", 1, 0), ("bo", 1, 0), ("ana", 2, 1), ("bo", 2, 1)]
    assert all(len(g["samples"]) == 2 for g in log)
    assert log[3]["user"] == log[1]["next_user"] == "I am Bo, turn 2. I love my goats."
