"""RLPA's rollouts as per-turn GRPO: the ``rollout_func`` of TRL's GRPOTrainer for ``aloe-bench train rlpa``.

The dataset holds only keys ``"CONVERSATION|TURN"``, laid out turn-major (every conversation's
turn 1, then every turn 2, ...) and never shuffled; GRPO repeats each key ``samples`` times, so one
group is ``samples`` outputs of one conversation's turn. For each group the rollout

1. builds the policy's prompt from the conversation so far (the project's versioned RLPA
   instruction and history, :func:`aloe_bench.evaluation.reply_format.policy_messages`);
2. samples the group's outputs with TRL's own generation path (``model.generate``, or vLLM with
   ``use_vllm``);
3. rewards every output: the ``profile`` reward (coverage judge, F1 against the golden facts) and
   the ``response`` reward (engagement judge, 1 or 0), both 0 without a call for a malformed
   output; a sample whose judge call failed (after the backend's retries and the judge's re-asks)
   is *unscorable*: both its rewards are None, so GRPO leaves it out of the group's baseline and
   gives it no advantage, and it is counted, never passed off as 0;
4. continues the dialogue with the best output (or a seeded random one): the simulated user sees
   only its ``<response>`` text and writes the next user message.

Under several processes each group stays in one process (checked on every call), and the
conversations' state is shared: every process sends what its groups added and applies what all
processes added (``accelerate.utils.gather_object``), so a conversation may land on another
process next turn. Every group is appended to ``rollouts.jsonl`` (the main process), which is also
what a resumed run rebuilds the conversations from.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from aloe_bench.errors import AloeBenchError

#: rollouts.jsonl's schema version.
ROLLOUTS_SCHEMA_VERSION = 1
#: The separator of the dataset's keys (``"CONVERSATION|TURN"``).
KEY_SEP = "|"


class RolloutError(AloeBenchError):
    """The rollouts cannot go on (a group split across processes, a turn asked out of order, a
    simulated user that failed twice)."""


def row_key(conversation_id: str, turn: int) -> str:
    """The dataset key of one conversation's turn."""
    return f"{conversation_id}{KEY_SEP}{turn}"


def parse_key(key: str) -> tuple[str, int]:
    """(conversation id, turn) of a dataset key."""
    cid, _, turn = key.rpartition(KEY_SEP)
    return cid, int(turn)


@dataclass
class Dialogue:
    """One conversation's live state: the user's messages (one per turn reached) and, per finished
    turn, the policy's whole output and the response the user saw."""

    persona: Any
    golden: list[str]
    users: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    replies: list[str] = field(default_factory=list)

    def exchanges(self, upto: int) -> list[tuple[str, str, str]]:
        """(user message, output, reply) of the turns before turn ``upto``."""
        return list(zip(self.users, self.outputs, self.replies))[: upto - 1]

    def before(self, turn: int) -> list[Any]:
        """The dialogue as the user saw it (user messages and responses) before turn ``turn``."""
        from aloe_bench.records import Message

        out = []
        for user, reply in list(zip(self.users, self.replies))[: turn - 1]:
            out += [Message(role="user", content=user), Message(role="assistant", content=reply)]
        return out

    def seen_history(self, turn: int) -> list[Any]:
        """The dialogue as the user saw it, up to and including the user's message of ``turn``."""
        from aloe_bench.records import Message

        return self.before(turn) + [Message(role="user", content=self.users[turn - 1])]

    def rewind(self, turn: int) -> None:
        """Keep only what turn ``turn`` is played from: the turns before it and its user message
        (a later epoch replays a conversation; a resumed run replays the turns after its checkpoint)."""
        del self.outputs[turn - 1:], self.replies[turn - 1:], self.users[turn:]


@dataclass
class RolloutTotals:
    """What the rollouts did, for train.json (sums over the run, all processes)."""

    groups: int = 0
    samples: int = 0
    malformed: int = 0
    unscorable: int = 0
    profile_judge_calls: int = 0
    response_judge_calls: int = 0
    user_calls: int = 0
    judge_errors: list[str] = field(default_factory=list)

    def add(self, stats: dict[str, int]) -> None:
        """Add one generation's numbers."""
        for key in ("groups", "samples", "malformed", "unscorable", "profile_judge_calls", "response_judge_calls",
                    "user_calls"):
            setattr(self, key, getattr(self, key) + int(stats.get(key, 0)))

    def describe(self) -> dict[str, Any]:
        """train.json's ``rollouts``."""
        return {"groups": self.groups, "samples": self.samples, "malformed": self.malformed,
                "format_error_rate": self.malformed / self.samples if self.samples else None,
                "unscorable": self.unscorable,
                "judge_calls": {"profile": self.profile_judge_calls, "response": self.response_judge_calls},
                "user_calls": self.user_calls, "judge_errors": self.judge_errors[:20]}


#: Replaces the sampled texts of one generation (a test seam): ``(texts, keys) -> texts`` where
#: ``keys`` holds each sample's ``(conversation id, turn)``.
OutputScript = Callable[[list[str], list[tuple[str, int]]], list[str]]


class RLPARollouts:
    """The ``rollout_func`` of one rlpa run (``rollouts(prompts, trainer)``) and the two GRPO reward
    functions that hand its rewards to TRL (:meth:`reward_functions`).

    ``dialogues``: conversation id -> :class:`Dialogue`; ``simulator``: the user simulator
    protocol; ``rewards``: the built ``profile`` and ``response`` rewards; ``weights``: their
    weights (for choosing the best output); ``choose``: ``best`` or ``random``; ``log_path``:
    rollouts.jsonl (written by the main process); ``script``: :data:`OutputScript`, replacing the
    sampled texts (re-tokenized) before they are rewarded (tests)."""

    def __init__(self, dialogues: dict[str, Dialogue], *, simulator: Any, rewards: Sequence[Any], turns: int,
                 weights: tuple[float, float], choose: str, seed: int, history: str, log_path: Path | None,
                 main_process: bool = True, script: OutputScript | None = None):
        self.dialogues = dialogues
        self.simulator = simulator
        self.rewards = list(rewards)
        self.turns = turns
        self.weights = weights
        self.choose = choose
        self.rng = random.Random(seed)
        self.history = history
        self.log_path = log_path
        self.main_process = main_process
        self.script = script
        self.totals = RolloutTotals()
        #: Simulator requests made per conversation since its last logged group.
        self._user_calls: dict[str, int] = {}

    # -- the rollout function -----------------------------------------------------------------------
    def __call__(self, prompts: list[Any], trainer: Any) -> dict[str, Any]:
        """GRPO's ``rollout_func``: this process's prompts (dataset keys, each repeated
        ``num_generations`` times) -> prompt and completion token ids, plus the per-sample rewards
        as extra fields for :meth:`reward_functions`."""
        from accelerate.utils import gather_object

        size = trainer.num_generations if trainer.model.training else trainer.num_generations_eval
        keys = [self._key_text(p) for p in prompts]
        groups: list[tuple[str, int]] = []
        problem = None
        try:
            groups = check_groups(keys, size)
            for cid, turn in groups:
                self._check_turn(cid, turn)
            self._opening(groups)
        except RolloutError as exc:
            problem = exc
        _stop_together(trainer, problem)  # never leave the other processes waiting in a collective call
        tokenizer = trainer.processing_class
        prompt_ids: list[list[int]] = []
        for cid, turn in groups:
            ids = self._prompt_ids(tokenizer, cid, turn)
            prompt_ids += [ids] * size
        completion_ids, logprobs = trainer._generate_single_turn(prompt_ids, None, {}, size)
        texts = tokenizer.batch_decode(completion_ids, skip_special_tokens=True)
        sample_keys = [g for g in groups for _ in range(size)]
        if self.script is not None:
            texts = list(self.script(list(texts), list(sample_keys)))
            eos = trainer.eos_token_ids[0]
            completion_ids = [tokenizer(t, add_special_tokens=False)["input_ids"] + [eos] for t in texts]
            logprobs = None
        scored = self._score(texts, sample_keys)
        updates: list[dict[str, Any]] = []
        try:
            updates = self._continue(groups, texts, scored, size, trainer.state.global_step)
        except RolloutError as exc:
            problem = exc
        _stop_together(trainer, problem)
        everything = gather_object(updates) if trainer.accelerator.num_processes > 1 else updates
        self._apply(everything)
        stats = self._stats(everything)
        self.totals.add(stats)
        metrics = trainer._metrics["train" if trainer.model.training else "eval"]
        for key in ("format_error_rate", "unscorable", "profile_judge_calls", "response_judge_calls", "user_calls"):
            metrics[f"rlpa/{key}"].append(float(stats[key]))
        return {"prompt_ids": prompt_ids, "completion_ids": completion_ids, "logprobs": logprobs,
                "rlpa_profile": [s["profile"] for s in scored], "rlpa_response": [s["response"] for s in scored]}

    def reward_functions(self) -> list[Callable[..., list[float | None]]]:
        """The GRPO reward functions ``profile`` and ``response``: they return the values the
        rollout computed (None for an unscorable sample)."""

        def profile(prompts, completions, rlpa_profile, **kwargs):
            """RLPA's profile reward (F1 of the inferred profile), computed during the rollout."""
            return list(rlpa_profile)

        def response(prompts, completions, rlpa_response, **kwargs):
            """RLPA's response reward (would the user keep chatting: 1 or 0), computed during the rollout."""
            return list(rlpa_response)

        return [profile, response]

    # -- steps ---------------------------------------------------------------------------------------
    @staticmethod
    def _key_text(prompt: Any) -> str:
        if isinstance(prompt, list):  # a conversational row: the key is the last message's text
            prompt = prompt[-1]["content"]
        return str(prompt)

    def _check_turn(self, cid: str, turn: int) -> None:
        dialogue = self.dialogues.get(cid)
        if dialogue is None:
            raise RolloutError(f"The rollout got an unknown conversation {cid!r}.")
        if not 1 <= turn <= self.turns or len(dialogue.outputs) < turn - 1:
            raise RolloutError(f"Conversation {cid!r} was asked for turn {turn} after {len(dialogue.outputs)} "
                               "turn(s): the dataset order or the shared conversation state is broken.",
                               "Keep shuffle_dataset false; make the conversations a multiple of the groups per "
                               "generation batch.")
        dialogue.rewind(turn)

    def _opening(self, groups: list[tuple[str, int]]) -> None:
        """The user's message of the turn for conversations that have none yet (turn 1, or a
        resumed run whose log lacks it)."""
        missing = sorted({(cid, turn) for cid, turn in groups if len(self.dialogues[cid].users) < turn})
        if not missing:
            return
        messages = self._simulate(missing)
        for cid, turn in missing:
            self.dialogues[cid].users[turn - 1:] = [messages[cid]]

    def _simulate(self, asks: list[tuple[str, int]]) -> dict[str, str]:
        """The simulated user's message of turn ``turn`` of each conversation (it has seen the
        responses only); a failed call is asked once more, then stops the run."""
        from aloe_bench.components import SimRequest
        from aloe_bench.rewards import run_sync

        out: dict[str, str] = {}
        pending = list(asks)
        for attempt in range(2):
            requests = [SimRequest(persona=self.dialogues[cid].persona, turn=turn, total_turns=self.turns,
                                   conversation_id=cid, history=self.dialogues[cid].before(turn))
                        for cid, turn in pending]
            if not requests:
                break
            replies = run_sync(self.simulator.next_messages(requests))
            for cid, _ in pending:
                self._user_calls[cid] = self._user_calls.get(cid, 0) + 1
            failed = []
            for (cid, turn), reply in zip(pending, replies):
                if reply.error is None and reply.text.strip():
                    out[cid] = reply.text.strip()
                else:
                    failed.append((cid, turn, reply.error or "empty message"))
            pending = [(cid, turn) for cid, turn, _ in failed]
            if failed and attempt == 1:
                cid, turn, error = failed[0]
                raise RolloutError(f"The simulated user failed twice at turn {turn} of conversation {cid!r}: "
                                   f"{str(error)[:200]}", "Check the user model; resume with --resume.")
        return out

    def _prompt_ids(self, tokenizer: Any, cid: str, turn: int) -> list[int]:
        from aloe_bench.evaluation.reply_format import policy_messages

        dialogue = self.dialogues[cid]
        messages = policy_messages(dialogue.exchanges(turn), dialogue.users[turn - 1], self.history)
        rendered = tokenizer.apply_chat_template([m.model_dump() for m in messages], add_generation_prompt=True,
                                                 tokenize=True, return_dict=True)
        return list(rendered["input_ids"])

    def _score(self, texts: list[str], keys: list[tuple[str, int]]) -> list[dict[str, Any]]:
        """Both rewards of every sample (one batch per reward, concurrently); a sample with a
        failed or unreadable judge answer gets None for both."""
        from aloe_bench.rewards import request_from_output, run_rewards

        requests = []
        for text, (cid, turn) in zip(texts, keys):
            d = self.dialogues[cid]
            requests.append(request_from_output(text, persona=d.persona, golden=d.golden,
                                                history=d.seen_history(turn), turn=turn, conversation_id=cid))
        profile_results, response_results = run_rewards(self.rewards, requests)
        scored = []
        for request, p, r in zip(requests, profile_results, response_results):
            ok = p.value is not None and r.value is not None
            for result in (p, r):
                if result.value is None and len(self.totals.judge_errors) < 20:  # the first ones, for train.json
                    self.totals.judge_errors.append(result.error or str(result.details.get("reason")))
            scored.append({"profile": p.value if ok else None, "response": r.value if ok else None,
                           "malformed": request.malformed, "profile_calls": p.usage.calls,
                           "response_calls": r.usage.calls, "profile_details": _short(p.details),
                           "response_details": _short(r.details), "errors": [e for e in (p.error, r.error) if e]})
        return scored

    def _total(self, s: dict[str, Any]) -> float | None:
        if s["profile"] is None:
            return None
        return self.weights[0] * s["profile"] + self.weights[1] * s["response"]

    def _continue(self, groups, texts, scored, size: int, step: int) -> list[dict[str, Any]]:
        """Per group: the output that continues the dialogue, and the user's next message."""
        from aloe_bench.evaluation.reply_format import read_policy_output

        updates = []
        for g, (cid, turn) in enumerate(groups):
            members = range(g * size, (g + 1) * size)
            totals = [self._total(scored[i]) for i in members]
            scorable = [i for i, t in zip(members, totals) if t is not None]
            if self.choose == "random" or not scorable:
                chosen = self.rng.choice(scorable or list(members))
            else:
                chosen = max(scorable, key=lambda i: self._total(scored[i]))
            updates.append({"schema_version": ROLLOUTS_SCHEMA_VERSION, "step": step, "conversation_id": cid,
                            "turn": turn, "user": self.dialogues[cid].users[turn - 1],
                            "chosen": chosen - g * size, "output": texts[chosen],
                            "reply": read_policy_output(texts[chosen]).reply,
                            "samples": [{"text": texts[i], "total": totals[i - g * size], **scored[i]}
                                        for i in members]})
        asks = [(u["conversation_id"], u["turn"] + 1) for u in updates if u["turn"] < self.turns]
        if asks:
            for u in updates:  # the simulator sees the chosen response
                d = self.dialogues[u["conversation_id"]]
                d.outputs[u["turn"] - 1:] = [u["output"]]
                d.replies[u["turn"] - 1:] = [u["reply"]]
            nexts = self._simulate(asks)
            for u in updates:
                u["next_user"] = nexts.get(u["conversation_id"])
        for u in updates:
            u["user_calls"] = self._user_calls.pop(u["conversation_id"], 0)
        return updates

    def _apply(self, updates: list[dict[str, Any]]) -> None:
        """Apply every process's updates to the shared state, and log them (main process)."""
        for u in updates:
            apply_update(self.dialogues, u)
        if self.main_process and self.log_path is not None and updates:
            from aloe_bench.fileio import append_lines

            append_lines(self.log_path, [json.dumps(u, ensure_ascii=False) for u in updates])

    @staticmethod
    def _stats(updates: list[dict[str, Any]]) -> dict[str, Any]:
        samples = [s for u in updates for s in u["samples"]]
        n = len(samples)
        return {"groups": len(updates), "samples": n, "malformed": sum(bool(s["malformed"]) for s in samples),
                "format_error_rate": sum(bool(s["malformed"]) for s in samples) / n if n else 0.0,
                "unscorable": sum(s["total"] is None for s in samples),
                "profile_judge_calls": sum(s["profile_calls"] for s in samples),
                "response_judge_calls": sum(s["response_calls"] for s in samples),
                "user_calls": sum(u.get("user_calls", 0) for u in updates)}


def _stop_together(trainer: Any, problem: RolloutError | None) -> None:
    """Raise ``problem`` in every process when any process has one (under several processes the
    others would otherwise wait for it forever in the next collective call)."""
    if trainer.accelerator.num_processes == 1:
        if problem is not None:
            raise problem
        return
    from accelerate.utils import gather_object

    problems = [p for p in gather_object([(problem.message, problem.hint) if problem else None]) if p]
    if problem is not None:
        raise problem
    if problems:
        raise RolloutError(f"Another process stopped: {problems[0][0]}", problems[0][1])


def check_groups(keys: list[str], size: int) -> list[tuple[str, int]]:
    """(conversation id, turn) of each group of ``size`` equal consecutive keys; a
    :class:`RolloutError` when a group is split (across processes, or by the batch size)."""
    if size < 1 or len(keys) % size:
        raise RolloutError(f"This process got {len(keys)} samples, not a multiple of the group size {size}: a "
                           "turn's samples would be split across processes.",
                           "Make per_device_train_batch_size x steps_per_generation a multiple of samples.")
    groups = []
    for start in range(0, len(keys), size):
        block = keys[start:start + size]
        if any(k != block[0] for k in block):
            raise RolloutError(f"Samples {start}..{start + size - 1} of this process mix turns {sorted(set(block))}: "
                               "a group is split.", "Make per_device_train_batch_size x steps_per_generation a "
                                                    "multiple of samples.")
        groups.append(parse_key(block[0]))
    return groups


def apply_update(dialogues: dict[str, Dialogue], update: dict[str, Any]) -> None:
    """Play one logged group into the conversations: the chosen output continues turn ``turn``
    and the next user message (when there is one) opens the next turn."""
    d = dialogues.get(update["conversation_id"])
    if d is None:
        return
    turn = update["turn"]
    d.users[turn - 1:] = [update["user"]]
    d.outputs[turn - 1:] = [update["output"]]
    d.replies[turn - 1:] = [update["reply"]]
    if update.get("next_user"):
        d.users.append(update["next_user"])


def replay(dialogues: dict[str, Dialogue], path: Path, before_step: int) -> list[dict[str, Any]]:
    """Rebuild the conversations from ``rollouts.jsonl`` (a resumed run): every group generated
    before optimizer step ``before_step``, in file order. Returns the groups replayed."""
    if not path.is_file():
        return []
    replayed = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        try:
            update = json.loads(line)
        except json.JSONDecodeError:
            continue  # a torn last line from a killed run
        if update.get("step", 0) < before_step:
            apply_update(dialogues, update)
            replayed.append(update)
    return replayed


def _short(details: dict[str, Any]) -> dict[str, Any]:
    """A reward's details without the judge's raw answer (kept short in rollouts.jsonl)."""
    return {k: v for k, v in details.items() if k not in ("raw", "rationale")}
