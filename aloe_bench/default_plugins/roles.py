"""Built-in simulator, judge and generation protocols (ALOE), usable over any chat backend.

Factories import their protocol modules on first use, so registering them loads nothing.
"""

from __future__ import annotations

from aloe_bench.hookspecs import hookimpl


def _simulator(backend, **options):
    from aloe_bench.protocols.simulators import AloeSimulator

    return AloeSimulator(backend, **options)


def _judge(backend, **options):
    from aloe_bench.protocols.judges import AloeJudge

    return AloeJudge(backend, **options)


def _pair_judge(backend, **options):
    from aloe_bench.protocols.pairwise import AloePairwiseJudge

    return AloePairwiseJudge(backend, **options)


def _coverage_judge(backend, *, params=None, max_retries=2):
    from aloe_bench.protocols.coverage import AloeCoverageJudge

    return AloeCoverageJudge(backend, params=params, max_retries=max_retries)


def _engagement_judge(backend, *, params=None, max_retries=2):
    from aloe_bench.protocols.engagement import AloeEngagementJudge

    return AloeEngagementJudge(backend, params=params, max_retries=max_retries)


def _induction(backend, *, params=None, max_retries=1):
    from aloe_bench.protocols.induction import AloeInduction

    return AloeInduction(backend, params=params, max_retries=max_retries)


def _hinted(backend, *, params=None, max_retries=1):
    from aloe_bench.protocols.responders import AloeResponder

    return AloeResponder(backend, hinted=True, params=params, max_retries=max_retries)


def _unhinted(backend, *, params=None, max_retries=1):
    from aloe_bench.protocols.responders import AloeResponder

    return AloeResponder(backend, hinted=False, params=params, max_retries=max_retries)


@hookimpl
def aloe_register_simulators(register):
    """Register the ``aloe`` user simulator."""
    register("aloe", _simulator, description="ALOE user simulator: role-plays profile + personality, speaks first")


@hookimpl
def aloe_register_judges(register):
    """Register the ``aloe`` 1-5 judge (task ``score``), the ``aloe-pairwise`` judge (task
    ``pairwise``), the ``aloe-coverage`` judge (task ``coverage``) and the ``aloe-engagement``
    judge (task ``engagement``)."""
    register("aloe", _judge, description="ALOE 1-5 persona-fit judge (turn or history mode; logprob scoring when available)")
    register("aloe-pairwise", _pair_judge, task="pairwise",
             description="ALOE pairwise judge: which of two replies (A, B) fits the persona better, or tie "
                         "(turn or history mode)")
    register("aloe-coverage", _coverage_judge, task="coverage",
             description="Coverage judge: how many golden facts an inferred profile covers (one whole number; "
                         "RLPA's profile reward, --profile-probe)")
    register("aloe-engagement", _engagement_judge, task="engagement",
             description="Engagement judge: would the user want to keep chatting after a reply? yes/no, strict "
                         "(RLPA's response reward)")


@hookimpl
def aloe_register_generation_protocols(register):
    """Register the generation protocols of ``aloe-bench generate``: ``aloe-induction``
    (role ``induction``), ``aloe-hinted`` and ``aloe-unhinted`` (role ``responder``)."""
    register("aloe-induction", _induction, role="induction",
             description="ALOE induction: the profile facts and traits the user has revealed so far (direct evidence)")
    register("aloe-hinted", _hinted, role="responder",
             description="ALOE hinted responder: replies with the induced persona as a hint, tailored to the user")
    register("aloe-unhinted", _unhinted, role="responder",
             description="ALOE unhinted responder: same chat and length instruction, no hint (the baseline)")
