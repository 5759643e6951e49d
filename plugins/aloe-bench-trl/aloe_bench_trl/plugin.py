"""Hook implementations: the ``sft``, ``dpo`` and ``rlpa`` trainers.

aloe-bench imports this module for every command (even ``--help``), so it imports nothing heavy:
the factories import the trainers (pydantic configs; torch and TRL only once a run starts).
"""

from __future__ import annotations

from aloe_bench.hookspecs import hookimpl


def sft_trainer():
    """Factory of the ``sft`` trainer: :class:`aloe_bench_trl.trainers.SFTRunner`."""
    from aloe_bench_trl.trainers import SFTRunner

    return SFTRunner()


def dpo_trainer():
    """Factory of the ``dpo`` trainer: :class:`aloe_bench_trl.trainers.DPORunner`."""
    from aloe_bench_trl.trainers import DPORunner

    return DPORunner()


def rlpa_trainer():
    """Factory of the ``rlpa`` trainer: :class:`aloe_bench_trl.rlpa.RLPARunner`."""
    from aloe_bench_trl.rlpa import RLPARunner

    return RLPARunner()


@hookimpl
def aloe_register_trainers(register):
    """Register ``sft``, ``dpo`` and ``rlpa``."""
    register("sft", sft_trainer, description="Supervised fine-tuning on sft.jsonl (chosen replies; loss on the "
                                             "completion) with optional mix-in chat data (TRL SFTTrainer)")
    register("dpo", dpo_trainer, description="DPO on dpo.jsonl (chosen vs rejected), from the base model or an "
                                             "SFT output (TRL DPOTrainer)")
    register("rlpa", rlpa_trainer, description="RLPA: per-turn GRPO against a simulated user, rewarded for the "
                                               "inferred profile and the reply (TRL GRPOTrainer)")
