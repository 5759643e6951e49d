"""The configuration of ``aloe-bench generate``: every key of the command and its TOML file."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from aloe_bench.components import GenerationParams
from aloe_bench.evaluation.config import with_default_specs
from aloe_bench.generation import ROLES
from aloe_bench.records import stable_hash
from aloe_bench.secrets import redact


#: Which registry each role's protocol comes from, and the registration keyword it must have.
ROLE_REGISTRY: dict[str, tuple[str, str | None, str | None]] = {
    "user": ("simulators", None, None),
    "induction": ("generation_protocols", "role", "induction"),
    "hinted": ("generation_protocols", "role", "responder"),
    "unhinted": ("generation_protocols", "role", "responder"),
    "pair_judge": ("judges", "task", "pairwise"),
}

PRESETS: dict[str, dict[str, Any]] = {
    # The paper: GPT-4o in every role.
    "aloe-paper": {role: "gpt-4o" for role in ROLES},
    # The published code: gpt-4o-mini-2024-07-18 everywhere, max_tokens 300, default temperature.
    "aloe-code": {**{role: "gpt-4o-mini-2024-07-18" for role in ROLES},
                  **{f"{role}_params": {"max_tokens": 300, "temperature": None} for role in ROLES}},
}


class GenerateConfig(BaseModel):
    """Everything that defines a generate run. Keys match the CLI options and the TOML config.

    Role specs left empty (None) take the default provider's spec (the embedded ``smollm2`` of
    aloe-bench-hf), so the command runs offline.
    """

    model_config = ConfigDict(extra="forbid")

    personas: str = "aloe-train"
    turns: int = Field(10, ge=1)
    limit: int | None = Field(None, ge=1)
    seed: int = 0
    user: str | None = None
    induction: str | None = None
    hinted: str | None = None
    unhinted: str | None = None
    pair_judge: str | None = None
    user_protocol: str = "aloe"
    induction_protocol: str = "aloe-induction"
    hinted_protocol: str = "aloe-hinted"
    unhinted_protocol: str = "aloe-unhinted"
    pair_judge_protocol: str = "aloe-pairwise"
    #: turn: persona, user message and the two replies (as ALOE's judge); history: the dialogue too.
    pair_judge_mode: str = "turn"
    user_options: dict[str, Any] = Field(default_factory=dict)
    induction_options: dict[str, Any] = Field(default_factory=dict)
    hinted_options: dict[str, Any] = Field(default_factory=dict)
    unhinted_options: dict[str, Any] = Field(default_factory=dict)
    pair_judge_options: dict[str, Any] = Field(default_factory=dict)
    user_protocol_options: dict[str, Any] = Field(default_factory=dict)
    induction_protocol_options: dict[str, Any] = Field(default_factory=dict)
    hinted_protocol_options: dict[str, Any] = Field(default_factory=dict)
    unhinted_protocol_options: dict[str, Any] = Field(default_factory=dict)
    pair_judge_protocol_options: dict[str, Any] = Field(default_factory=dict)
    user_params: GenerationParams = GenerationParams(max_tokens=120)
    induction_params: GenerationParams = GenerationParams(max_tokens=200)
    hinted_params: GenerationParams = GenerationParams(max_tokens=300)
    unhinted_params: GenerationParams = GenerationParams(max_tokens=300)
    pair_judge_params: GenerationParams = GenerationParams(max_tokens=80)
    # Operational keys: they do not change results, so resuming may change them.
    concurrency: int = Field(16, ge=1)
    cache: bool = True
    max_cost: float | None = Field(None, ge=0)

    OPERATIONAL: ClassVar[tuple[str, ...]] = ("concurrency", "cache", "max_cost")

    def with_default_specs(self, host) -> "GenerateConfig":
        """A copy whose empty role specs are the default provider's spec."""
        return with_default_specs(self, ROLES, host)

    def spec(self, role: str) -> str:
        """The backend spec of ``role``."""
        return getattr(self, role)

    def result_keys(self) -> dict[str, Any]:
        """The keys that define results (hashed into config_hash, compared on resume)."""
        data = redact(self.model_dump(mode="json"))
        return {k: v for k, v in data.items() if k not in self.OPERATIONAL}

    def config_hash(self) -> str:
        """Hash of :meth:`result_keys`."""
        return stable_hash(self.result_keys())
