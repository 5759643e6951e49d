"""The typed configs of the ``sft``, ``dpo`` and ``rlpa`` trainers (one class per trainer) and presets.

A config file is TOML: top-level keys of :class:`SFTTrainConfig` / :class:`DPOTrainConfig` /
:class:`RLPATrainConfig`, a ``[trl]`` table passed unchanged to TRL's ``SFTConfig`` / ``DPOConfig`` /
``GRPOConfig`` (every TRL option is
reachable; an unknown key is a one-line error with the close matches), an optional ``[lora]`` table
that turns on peft, and ``[[mix]]`` entries (SFT) for mix-in chat data.

The defaults follow the paper (SFT lr 1e-5, effective batch 48, packing, 8192 tokens, one
epoch, bf16; DPO beta 0.9, lr 1e-5, effective batch 48, one epoch; RLPA lr 5e-7, KL coefficient
0.01, 4 samples per turn) and are adjusted to the
machine when the run starts (:func:`machine_defaults`): bf16 and gradient checkpointing only on a
GPU, ``use_cpu`` without one.
"""

from __future__ import annotations

import difflib
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from aloe_bench.errors import ConfigError

#: TRL options aloe-bench sets unless ``[trl]`` names them (both trainers).
COMMON_TRL_DEFAULTS: dict[str, Any] = {
    "learning_rate": 1e-5,
    "num_train_epochs": 1,
    "logging_steps": 1,  # per-step loss (and DPO margins) for train.json
    "save_strategy": "steps",
    "save_steps": 200,
    "save_total_limit": 2,
    "report_to": "none",
    "seed": 0,
}
#: SFT: packing into 8192-token sequences, as the published scripts.
SFT_TRL_DEFAULTS: dict[str, Any] = {**COMMON_TRL_DEFAULTS, "packing": True, "max_length": 8192}
#: DPO: beta 0.9, as the published scripts.
DPO_TRL_DEFAULTS: dict[str, Any] = {**COMMON_TRL_DEFAULTS, "beta": 0.9}

#: ``[trl]`` keys aloe-bench owns: where to set them instead.
RESERVED_TRL_KEYS = {
    "output_dir": "Set output_dir at the top level of the config (or pass --output), not in [trl].",
    "peft_config": "Use a [lora] table (r, alpha, dropout, target_modules).",
}


class LoraSettings(BaseModel):
    """The ``[lora]`` table: train a LoRA adapter (peft) instead of every weight."""

    model_config = ConfigDict(extra="forbid")

    r: int = Field(16, ge=1, description="Rank of the LoRA matrices.")
    alpha: int = Field(32, ge=1, description="LoRA scaling numerator (lora_alpha).")
    dropout: float = Field(0.05, ge=0, lt=1, description="Dropout on the LoRA inputs.")
    target_modules: list[str] | str = Field("all-linear", description="Module names to adapt, or 'all-linear'.")


class MixSource(BaseModel):
    """One ``[[mix]]`` entry: chat data mixed into SFT (local JSONL file or hub dataset)."""

    model_config = ConfigDict(extra="forbid")

    data: str = Field(description="A JSONL file (messages rows) or a hub dataset name, optionally NAME:SPLIT.")
    weight: float = Field(1.0, gt=0, description="Row multiplier: 1 = every row once, 0.5 = a seeded half, "
                                                 "2 = every row twice.")


class ModelTrainConfig(BaseModel):
    """Keys every trainer of this plugin has: the starting model, the output folder, dtype,
    saving, ``[lora]`` and ``[trl]``."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field("smollm2", description="Start from: hf:HUB_ID, hf:FOLDER (a train output too), or "
                                             "smollm2 (the embedded SmolLM2-135M-Instruct).")
    output_dir: str | None = Field(None, description="The output folder (--output overrides): a plain HF "
                                                     "model folder plus train.json.")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto", description="Weights dtype while training: auto = bfloat16 on a GPU that supports it, else float32.")
    merge: bool = Field(True, description="With [lora]: merge the adapter into the saved model (false: save the "
                                          "adapter folder; hf: loads either).")
    keep_checkpoints: bool = Field(False, description="Keep checkpoint-* folders after a finished run.")
    lora: LoraSettings | None = Field(None, description="[lora] table: train a LoRA adapter.")
    trl: dict[str, Any] = Field(default_factory=dict, description="[trl] table: passed unchanged to TRL's "
                                                                 "config class.")

    #: Keys that do not change what is trained (a resume may change them).
    OPERATIONAL: ClassVar[tuple[str, ...]] = ("output_dir", "keep_checkpoints")
    #: The TRL config class name (``trl.SFTConfig`` / ``trl.DPOConfig``).
    TRL_CLASS: ClassVar[str] = ""
    #: aloe-bench's defaults for TRL options.
    TRL_DEFAULTS: ClassVar[dict[str, Any]] = {}

    def result_keys(self) -> dict[str, Any]:
        """The keys that define the trained model (compared on ``--resume``), by their names in a
        config file."""
        data = self.model_dump(mode="json", by_alias=True)
        return {k: v for k, v in data.items() if k not in self.OPERATIONAL}


class TrainConfigBase(ModelTrainConfig):
    """Keys shared by the trainers on a data set (sft, dpo)."""

    data: str | None = Field(None, description="A generate output folder, sft.jsonl / dpo.jsonl, or a hub "
                                               "dataset (NAME or NAME:SPLIT).")
    limit: int | None = Field(None, ge=1, description="Use only the first N rows of data (smoke tests).")
    effective_batch_size: int = Field(48, ge=1, description="per_device_train_batch_size x "
                                      "gradient_accumulation_steps x processes; sets gradient_accumulation_steps "
                                      "unless [trl] names it.")
    chat_template: str | None = Field(None, description="A Jinja file with {% generation %} markers to train "
                                                        "with (when the model's template has none).")


class SFTTrainConfig(TrainConfigBase):
    """``aloe-bench train sft``: supervised fine-tuning with TRL's SFTTrainer.

    Every row becomes one conversational prompt-completion pair. sft.jsonl rows keep their split
    (loss on the completion: the chosen reply). Mix-in ``messages`` rows are split before their
    first assistant turn; with mix-in data the loss is restricted to assistant turns too
    (``assistant_only_loss``), so the user turns inside a mix-in completion carry no loss.
    """

    train_on: Literal["chosen", "rejected", "mix-only"] = Field(
        "chosen", description="chosen: the completions of sft.jsonl; rejected: the rejected replies of dpo.jsonl "
                              "as completions (the paper's SFT-rejected ablation); mix-only: the [[mix]] data alone.")
    mix: list[MixSource] = Field(default_factory=list, description="[[mix]] entries: chat data mixed in "
                                                                   "(e.g. CodeActInstruct).")

    TRL_CLASS: ClassVar[str] = "SFTConfig"
    TRL_DEFAULTS: ClassVar[dict[str, Any]] = SFT_TRL_DEFAULTS


class DPOTrainConfig(TrainConfigBase):
    """``aloe-bench train dpo``: DPO with TRL's DPOTrainer on (prompt, chosen, rejected) rows.

    The reference model is never stale: with [lora] it is the model with the adapter switched off;
    for full fine-tuning an explicit frozen copy of the starting weights (``reference = "copy"``) or
    reference log-probabilities computed before training (``reference = "precompute"``).
    """

    reference: Literal["auto", "copy", "precompute"] = Field(
        "auto", description="auto: adapter off with [lora], else copy; copy: a frozen copy of the starting model; "
                            "precompute: reference log-probs computed once before training (no copy kept).")
    from_sft: bool = Field(False, description="Require model to be an output of `aloe-bench train sft` "
                                              "(the sft-dpo preset).")

    TRL_CLASS: ClassVar[str] = "DPOConfig"
    TRL_DEFAULTS: ClassVar[dict[str, Any]] = DPO_TRL_DEFAULTS


#: RLPA: the published setup where GRPO has the knob (actor lr 5e-7, KL coefficient 0.01; TRL's own
#: beta default is 0); the dialogue order needs the dataset unshuffled.
RLPA_TRL_DEFAULTS: dict[str, Any] = {**COMMON_TRL_DEFAULTS, "learning_rate": 5e-7, "beta": 0.01,
                                     "max_completion_length": 256, "shuffle_dataset": False}
#: ``[trl]`` keys the rlpa trainer sets from its own keys: where to set them instead.
RLPA_OWNED_TRL_KEYS = {
    "reward_weights": "Set [reward_weights] profile = ..., response = ... at the top level.",
    "shuffle_dataset": "The rollouts play each conversation's turns in order; the dataset is never shuffled.",
}


class RewardWeights(BaseModel):
    """The ``[reward_weights]`` table: weights of RLPA's two rewards in the total (GRPO's
    ``reward_weights``); the published total is their plain sum."""

    model_config = ConfigDict(extra="forbid")

    profile: float = Field(1.0, ge=0, description="Weight of the profile reward (F1 of the inferred profile).")
    response: float = Field(1.0, ge=0, description="Weight of the response reward (would the user keep chatting: "
                                                   "1 or 0).")


class RLPATrainConfig(ModelTrainConfig):
    """``aloe-bench train rlpa``: RLPA as per-turn GRPO: the policy talks with a simulated user and
    is rewarded for its inferred profile and its reply at every turn.

    Each dialogue turn is one GRPO group of ``samples`` outputs from the same history; a coverage
    judge (profile F1) and an engagement judge (1/0) reward each output, and the best (or a
    seeded random) output continues the dialogue. The policy's prompt is the project's versioned
    RLPA instruction, the same as ``evaluate --reply-format rlpa``.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    personas: str = Field("aloe-train", description="Persona source of the simulated users: aloe-train, sample, "
                                                    "jsonl:FILE, ... (one conversation per persona).")
    limit: int | None = Field(None, ge=1, description="Use only the first N personas (conversations).")
    facts: str | None = Field(None, description="Golden facts file (aloe-bench personas facts); default: curated "
                                                "facts, else one fact per sentence of the profile.")
    user: str | None = Field(None, description="The simulated user's model spec (protocol aloe); default: the "
                                               "installed default model, as evaluate.")
    profile_judge: str | None = Field(None, description="Model spec of the coverage judge behind the profile "
                                                        "reward; default: the installed default model.")
    response_judge: str | None = Field(None, description="Model spec of the engagement judge behind the response "
                                                          "reward; default: the installed default model.")
    response_sees: Literal["inferred", "persona"] = Field(
        "inferred", description="What the engagement judge knows of the user: the policy's inferred profile (as "
                                "RLPA's judge) or the true persona.")
    turns: int = Field(10, ge=1, description="Turns per conversation (each is its own RL sample group).")
    samples: int = Field(4, ge=2, description="Outputs sampled per turn: GRPO's num_generations (a group).")
    continue_with: Literal["best", "random"] = Field(
        "best", alias="continue", description="Which output of a turn continues the dialogue: best (highest total "
                                              "reward, as published) or random (seeded).")
    history: Literal["latest", "responses", "full"] = Field(
        "latest", description="What the policy's own earlier turns show in its prompt (as evaluate's "
                              "--rlpa-history): latest = its previous output whole, older ones the response.")
    reward_weights: RewardWeights = Field(default_factory=RewardWeights,
                                          description="[reward_weights] table: profile and response weights.")
    seed: int = Field(0, description="Seed of the random continuation (continue = \"random\").")
    concurrency: int = Field(8, ge=1, description="Judge and simulator requests in flight at once.")
    cache: bool = Field(True, description="Answer repeated simulator and judge calls from the call cache.")

    OPERATIONAL: ClassVar[tuple[str, ...]] = ("output_dir", "keep_checkpoints", "concurrency", "cache")
    TRL_CLASS: ClassVar[str] = "GRPOConfig"
    TRL_DEFAULTS: ClassVar[dict[str, Any]] = RLPA_TRL_DEFAULTS


#: name -> (what it trains on, the settings it applies). Presets sit between the defaults and the
#: config file: a file or --set overrides them.
SFT_PRESETS: dict[str, tuple[str, dict[str, Any]]] = {
    "sft-chosen": ("SFT on the chosen replies: the completions of sft.jsonl (plus [[mix]] data if given)",
                   {"train_on": "chosen"}),
    "sft-rejected": ("SFT on the rejected replies: the `rejected` field of dpo.jsonl as completions "
                     "(the paper's SFT-rejected ablation)", {"train_on": "rejected"}),
    "agent-only": ("SFT on the [[mix]] data alone (e.g. CodeActInstruct); `data` is not used",
                   {"train_on": "mix-only"}),
}
DPO_PRESETS: dict[str, tuple[str, dict[str, Any]]] = {
    "sft-dpo": ("DPO on dpo.jsonl (chosen vs rejected) starting from an SFT output: model = "
                "\"hf:OUTPUT_OF_TRAIN_SFT\" (checked through its train.json)", {"from_sft": True}),
}


def check_trl_keys(config: TrainConfigBase, trl_fields: set[str]) -> None:
    """A one-line :class:`ConfigError` for a ``[trl]`` key TRL's config class does not have (with
    the close matches) or one aloe-bench owns (``output_dir``)."""
    for key in config.trl:
        if key in RESERVED_TRL_KEYS:
            raise ConfigError(f"[trl].{key} is not allowed.", RESERVED_TRL_KEYS[key])
        if key not in trl_fields:
            close = difflib.get_close_matches(key, sorted(trl_fields), n=3, cutoff=0.6)
            raise ConfigError(f"Unknown TRL option [trl].{key} (not a field of trl.{config.TRL_CLASS})."
                              + (f" Did you mean: {', '.join(close)}?" if close else ""),
                              f"`aloe-bench train NAME --show-config` prints aloe-bench's keys; TRL's are those "
                              f"of trl.{config.TRL_CLASS}.")


#: Names of one TRL option (transformers 5 renamed gradient_checkpointing; the old name still works).
_ALIASES = {"gradient_checkpointing": ("gradient_checkpointing", "activation_checkpointing")}


def machine_defaults(on_gpu: bool, bf16_ok: bool, trl_fields: set[str], given: set[str]) -> dict[str, Any]:
    """TRL options that depend on the machine, minus those the user set (``given``, under either
    name): TRL 1.16 defaults to bf16 and gradient checkpointing, which a CPU cannot use (or gains
    nothing from); on a GPU, bf16 where the GPU supports it."""
    checkpointing = "activation_checkpointing" if "activation_checkpointing" in trl_fields else "gradient_checkpointing"
    out: dict[str, Any] = {"bf16": bf16_ok, checkpointing: True} if on_gpu else \
        {"bf16": False, checkpointing: False, "use_cpu": True}
    for key in list(out):
        names = _ALIASES["gradient_checkpointing"] if key == checkpointing else (key,)
        if given & set(names):
            del out[key]
    return out
