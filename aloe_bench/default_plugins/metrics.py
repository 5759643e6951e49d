"""Built-in metrics: the alignment curve family and reply length."""

from __future__ import annotations

from aloe_bench.hookspecs import hookimpl


def _alignment():
    from aloe_bench.metrics import alignment_metrics

    return alignment_metrics


def _reply_length():
    from aloe_bench.metrics import reply_length_per_turn

    return lambda data: {"words_per_turn": reply_length_per_turn(data.conversations, data.turns)}


@hookimpl
def aloe_register_metrics(register):
    register("alignment", _alignment, description="AL(k), N(k), Average, IR, N-IR, R2, N-R2, bootstrap CIs")
    register("reply_length", _reply_length, description="Mean reply length in words per turn")
