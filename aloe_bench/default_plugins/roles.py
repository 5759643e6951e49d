"""Built-in simulator and judge protocols (ALOE), usable over any chat backend."""

from __future__ import annotations

from aloe_bench.hookspecs import hookimpl


def _simulator(backend, **options):
    from aloe_bench.protocols.simulators import AloeSimulator

    return AloeSimulator(backend, **options)


def _judge(backend, **options):
    from aloe_bench.protocols.judges import AloeJudge

    return AloeJudge(backend, **options)


@hookimpl
def aloe_register_simulators(register):
    register("aloe", _simulator, description="ALOE user simulator: role-plays profile + personality, speaks first")


@hookimpl
def aloe_register_judges(register):
    register("aloe", _judge, description="ALOE 1-5 persona-fit judge (turn or history mode; logprob scoring when available)")
