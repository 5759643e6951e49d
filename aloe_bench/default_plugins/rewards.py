"""Built-in rewards: RLPA's ``profile`` reward (F1 from a coverage judge) and ``response`` reward
(1 or 0 from an engagement judge), usable over any judge backend.

Factories import :mod:`aloe_bench.rewards` on first use, so registering them loads nothing.
"""

from __future__ import annotations

from aloe_bench.hookspecs import hookimpl


def _profile(backend, *, params=None, host=None, judge="aloe-coverage", **judge_options):
    from aloe_bench.rewards import profile_reward

    return profile_reward(backend, params=params, host=host, judge=judge, **judge_options)


def _response(backend, *, params=None, host=None, judge="aloe-engagement", sees="persona", **judge_options):
    from aloe_bench.rewards import response_reward

    return response_reward(backend, params=params, host=host, judge=judge, sees=sees, **judge_options)


@hookimpl
def aloe_register_rewards(register):
    """Register the ``profile`` and ``response`` rewards (RLPA)."""
    register("profile", _profile,
             description="RLPA profile reward: F1 of the inferred profile against the golden facts, from a "
                         "coverage judge's count (option judge=, default aloe-coverage)")
    register("response", _response,
             description="RLPA response reward: 1 when an engagement judge says the user would keep chatting, "
                         "else 0 (options judge=, default aloe-engagement; sees=persona|inferred)")
