"""The ``rlpa`` trainer: RLPA (../shared/METHOD.md §2) as per-turn GRPO on TRL's GRPOTrainer.

Published RLPA trains with PPO (a critic, GAE) on OpenRLHF; TRL 1.16 has no PPO trainer. Here each
dialogue turn is one GRPO group: ``samples`` outputs of the policy from the same history, rewarded
by the profile and response rewards, normalised within the group; the best output continues the
dialogue (:mod:`aloe_bench_trl.rollouts`). docs/training.md ("RLPA") says what this keeps and what
it changes.

The run shares the sft/dpo trainers' machinery (:class:`aloe_bench_trl.trainers._Run`): checks,
the run lock, train.json, resume, saving a plain model folder, the live display.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from aloe_bench.errors import ConfigError

from aloe_bench_trl import config as cfg
from aloe_bench_trl.data import LoadedData
from aloe_bench_trl.rollouts import Dialogue, OutputScript, RLPARollouts, replay, row_key
from aloe_bench_trl.trainers import STEP_KEYS, TrainerBase, _main_process

#: TRL's per-step logs kept in train.json for rlpa: loss, learning rate, the rewards (profile,
#: response, their weighted total ``reward``), KL to the reference, and the rollouts' counts.
RLPA_STEP_KEYS = (*STEP_KEYS[:4], "reward", "reward_std", "rewards/profile/mean", "rewards/response/mean", "kl",
                  "frac_reward_zero_std", "completions/mean_length", "rlpa/format_error_rate", "rlpa/unscorable",
                  "rlpa/profile_judge_calls", "rlpa/response_judge_calls", "rlpa/user_calls")
#: What ``--then-evaluate`` sets for both evaluations of an rlpa run.
EVALUATE_SETTINGS = {"reply_format": "rlpa", "profile_probe": True}


class RLPARunner(TrainerBase):
    """``aloe-bench train rlpa``: per-turn GRPO against a simulated user with RLPA's two rewards.

    ``script`` (tests): replaces the sampled texts of every generation before they are rewarded
    (:data:`aloe_bench_trl.rollouts.OutputScript`); the texts are re-tokenized, so GRPO trains on
    them as if sampled."""

    name = "rlpa"
    config_class = cfg.RLPATrainConfig
    presets: dict[str, tuple[str, dict[str, Any]]] = {}
    step_keys = RLPA_STEP_KEYS

    def __init__(self, script: OutputScript | None = None):
        self.script = script
        self.host = None
        self.personas: list[Any] = []
        self.golden = None
        self.rollouts: RLPARollouts | None = None
        self._closers: list[Any] = []
        self._info: dict[str, Any] = {}

    def trl_classes(self):
        """(trl.GRPOConfig, trl.GRPOTrainer)."""
        from trl import GRPOConfig, GRPOTrainer

        return GRPOConfig, GRPOTrainer

    # -- before anything heavy -------------------------------------------------------------------
    def load_data(self, config: cfg.RLPATrainConfig) -> list[LoadedData]:
        """The personas (one conversation each), their golden facts, and the dataset of turn keys
        laid out turn-major; the role specs are checked here, before any model is loaded."""
        from aloe_bench.personas import load_personas
        from aloe_bench.personas.facts import golden_facts
        from aloe_bench.plugins import default_host

        self.host = default_host()
        config = self._specs(config)
        personas = load_personas(config.personas, self.host)
        if config.limit:
            personas = personas[: config.limit]
        if not personas:
            raise ConfigError(f"The persona source {config.personas!r} has no personas.")
        self.personas = personas
        self.golden = golden_facts(personas, config.facts)
        digest = hashlib.sha256(json.dumps([[p.id, p.profile, p.personality] for p in personas]).encode()).hexdigest()
        rows = [{"prompt": row_key(p.id, turn)} for turn in range(1, config.turns + 1) for p in personas]
        return [LoadedData(source=config.personas, path=None, sha256=digest, rows=rows, role="personas")]

    def _specs(self, config: cfg.RLPATrainConfig) -> cfg.RLPATrainConfig:
        """``config`` with the default model spec for the roles it leaves empty; every spec checked."""
        from aloe_bench.backends.resolve import validate_spec
        from aloe_bench.evaluation.config import with_default_specs

        config = with_default_specs(config, ("user", "profile_judge", "response_judge"), self.host)
        for spec in (config.user, config.profile_judge, config.response_judge):
            validate_spec(spec, self.host)
        return config

    def check_start(self, config: cfg.RLPATrainConfig, start) -> None:
        """Full training from an adapter folder is refused while the KL term is on: GRPO would
        reload its reference from the adapter's base on disk, not the merged starting model."""
        beta = config.trl.get("beta", cfg.RLPA_TRL_DEFAULTS["beta"])
        if start.ref.adapter_base is not None and config.lora is None and beta:
            raise ConfigError(f"{start.spec!r} is an adapter folder: with full training GRPO's KL reference would "
                              "be its base model, not the adapter merged into it.",
                              "Train with a [lora] table (the reference is then the adapter switched off), or "
                              "start from a merged folder (merge = true).")

    def trl_settings(self, config: cfg.RLPATrainConfig, data, given):
        """num_generations = samples, the reward weights, one group per device batch by default;
        the [trl] keys that would contradict them are errors."""
        for key, hint in cfg.RLPA_OWNED_TRL_KEYS.items():
            if key in given and not (key == "shuffle_dataset" and config.trl[key] is False):
                raise ConfigError(f"[trl].{key} is set by the rlpa trainer.", hint)
        if "num_generations" in given and config.trl["num_generations"] != config.samples:
            raise ConfigError(f"[trl].num_generations = {config.trl['num_generations']} contradicts samples = "
                              f"{config.samples}.", "Set samples (GRPO's num_generations) and leave "
                                                    "[trl].num_generations out.")
        settings: dict[str, Any] = {"num_generations": config.samples,
                                    "reward_weights": [config.reward_weights.profile, config.reward_weights.response]}
        if "per_device_train_batch_size" not in given:
            settings["per_device_train_batch_size"] = config.samples
        return settings

    def batch_settings(self, config, settings, given, world, trl_class) -> None:
        """GRPO's own accumulation (1 unless [trl] says otherwise): a generation batch is a turn of
        some conversations, and its size is checked in :meth:`check_args`."""

    def check_args(self, config: cfg.RLPATrainConfig, args, data, world: int) -> None:
        """Each group stays in one process, and every generation batch holds a single turn of
        whole conversations (else a conversation's next turn could come before its last)."""
        per_process = args.per_device_train_batch_size * args.steps_per_generation
        if per_process % config.samples:
            raise ConfigError(f"per_device_train_batch_size x steps_per_generation = {per_process} is not a multiple "
                              f"of samples = {config.samples}: a turn's samples would be split.",
                              "Make [trl].per_device_train_batch_size a multiple of samples.")
        groups = per_process // config.samples * world
        conversations = len(self.personas)
        if conversations % groups:
            raise ConfigError(f"{conversations} conversation(s) do not fill whole generation batches of {groups} "
                              f"group(s) ({world} process(es) x {per_process // config.samples}).",
                              f"Use a multiple of {groups} personas (limit = ...), or a smaller per-device batch.")

    # -- the run ------------------------------------------------------------------------------------
    def build(self, config: cfg.RLPATrainConfig, args, model, tokenizer, dataset, peft_config):
        """The GRPOTrainer with the rollout function, the simulated user and the two rewards (what
        was opened is closed again when building fails)."""
        try:
            return self._build(config, args, model, tokenizer, dataset, peft_config)
        except BaseException:
            self.after_train({})
            raise

    def _build(self, config: cfg.RLPATrainConfig, args, model, tokenizer, dataset, peft_config):
        import os

        from trl import GRPOTrainer

        from aloe_bench.backends.cache import CallCache
        from aloe_bench.evaluation.reply_format import RLPA_PROMPT
        from aloe_bench.evaluation.roles import BackendPool, protocol_spec
        from aloe_bench.paths import call_cache_path
        from aloe_bench.prompts import prompt_hash
        from aloe_bench.rewards import build_reward

        config = self._specs(config)
        cache = CallCache(call_cache_path()) if config.cache else None
        if cache is not None:
            self._closers.append(cache)
        pool = BackendPool(self.host, cache, config.concurrency)
        entry = self.host.simulators.get("aloe")
        simulator = entry.build(pool.get(config.user, {}, "user"), defaults={"params": None})
        self._closers += pool.all()
        profile = build_reward("profile", config.profile_judge, host=self.host, cache=config.cache,
                               concurrency=config.concurrency)
        self._closers.append(profile)
        response = build_reward("response", config.response_judge, host=self.host, cache=config.cache,
                                concurrency=config.concurrency, sees=config.response_sees)
        self._closers.append(response)
        dialogues = {p.id: Dialogue(persona=p, golden=self.golden.facts(p)) for p in self.personas}
        self.rollouts = RLPARollouts(
            dialogues, simulator=simulator, rewards=[profile, response], turns=config.turns,
            weights=(config.reward_weights.profile, config.reward_weights.response), choose=config.continue_with,
            seed=config.seed, history=config.history, log_path=Path(args.output_dir) / "rollouts.jsonl",
            main_process=_main_process(), script=self.script)
        self._info = {
            "policy_prompt": {"name": RLPA_PROMPT, "hash": prompt_hash(RLPA_PROMPT), "history": config.history},
            "roles": {"user": protocol_spec("user", config.user, simulator).model_dump(mode="json"),
                      "profile_reward": {"spec": config.profile_judge, **profile.describe()},
                      "response_reward": {"spec": config.response_judge, **response.describe()}},
            "personas": {"source": config.personas, "count": len(self.personas)},
            "golden_facts": self.golden.describe(),
            "samples_per_turn": config.samples, "continue": config.continue_with,
            "failed_judge_calls": "a sample whose judge call failed is unscorable: no reward, no advantage, counted",
        }
        os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")  # rollout_func is experimental in TRL 1.16
        return GRPOTrainer(model=model, reward_funcs=self.rollouts.reward_functions(), args=args,
                           train_dataset=dataset, processing_class=tokenizer, peft_config=peft_config,
                           rollout_func=self.rollouts)

    def run_info(self) -> dict[str, Any]:
        """The policy prompt's hash, the roles, the personas and their facts."""
        return dict(self._info)

    def before_train(self, checkpoint: str | None) -> None:
        """A resumed run rebuilds the conversations from rollouts.jsonl up to its checkpoint (and
        counts those groups in the run's totals)."""
        if checkpoint is None or self.rollouts is None or self.rollouts.log_path is None:
            return
        step = int(Path(checkpoint).name.rsplit("-", 1)[-1])
        replayed = replay(self.rollouts.dialogues, self.rollouts.log_path, step)
        if replayed:
            self.rollouts.totals.add(self.rollouts._stats(replayed))

    def after_train(self, record: dict[str, Any]) -> None:
        """The rollouts' totals into train.json; the backends and the call cache closed."""
        if self.rollouts is not None:
            record["rollouts"] = self.rollouts.totals.describe()
        closers, self._closers = self._closers, []
        for thing in closers:
            try:
                thing.close()
            except Exception:  # noqa: BLE001 - closing must not hide the run's own outcome
                pass

    def result_extras(self) -> dict[str, Any]:
        """``--then-evaluate`` evaluates with ``--reply-format rlpa`` (and the profile measured from
        the replies), for the trained and the base model alike."""
        return {"evaluate_settings": dict(EVALUATE_SETTINGS)}
