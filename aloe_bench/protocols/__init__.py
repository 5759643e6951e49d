"""The ALOE prompt protocols over any chat backend: the user simulator
(:mod:`~aloe_bench.protocols.simulators`) and the 1-5 judge (:mod:`~aloe_bench.protocols.judges`)
of ``evaluate``, and the protocols of ``generate`` (ALOE's preference data): the induction of
the revealed persona (:mod:`~aloe_bench.protocols.induction`), the hinted and unhinted
responders (:mod:`~aloe_bench.protocols.responders`) and the pairwise judge
(:mod:`~aloe_bench.protocols.pairwise`). Their prompt files live in :mod:`aloe_bench.prompts`.

A protocol of your own can reuse a registered one (built-in or another plugin's) through
:func:`build_judge`, :func:`build_simulator` and :func:`build_generation_protocol`, e.g. a judge that asks the ``aloe`` judge and
then adjusts its verdicts::

    from aloe_bench.protocols import build_judge

    class LenientJudge:
        name = "lenient"

        def __init__(self, backend, *, mode="turn", params=None, bonus=0.5):
            self.inner = build_judge("aloe", backend, mode=mode, params=params)
            self.backend, self.mode, self.bonus = backend, mode, bonus

        async def score(self, requests):
            verdicts = await self.inner.score(requests)
            return [v.model_copy(update={"score": min(5.0, v.score + self.bonus)}) if v.score else v
                    for v in verdicts]

        def describe(self):
            inner = self.inner.describe()
            return {"kind": self.name, "options": {"bonus": self.bonus, "inner": inner["options"]},
                    "prompt_hashes": inner.get("prompt_hashes", {})}
"""

from __future__ import annotations

from typing import Any


def build_judge(name: str, backend: Any, *, host: Any = None, **options: Any) -> Any:
    """The judge protocol registered as ``name`` over ``backend`` (``mode=``, ``params=`` and the
    protocol's own options as keywords), built exactly as the engine builds it."""
    return _build("judges", name, backend, host, options)


def build_simulator(name: str, backend: Any, *, host: Any = None, **options: Any) -> Any:
    """The user-simulator protocol registered as ``name`` over ``backend`` (``params=`` and the
    protocol's own options as keywords)."""
    return _build("simulators", name, backend, host, options)


def build_generation_protocol(name: str, backend: Any, *, host: Any = None, **options: Any) -> Any:
    """The generation protocol registered as ``name`` over ``backend`` (``params=`` and the
    protocol's own options as keywords), e.g. ``build_generation_protocol("aloe-hinted", backend)``."""
    return _build("generation_protocols", name, backend, host, options)


def _build(kind: str, name: str, backend: Any, host: Any, options: dict[str, Any]) -> Any:
    if host is None:
        from aloe_bench.plugins import default_host

        host = default_host()
    core = {k: options.pop(k) for k in ("mode", "params") if k in options}
    return host.registries[kind].get(name).build(backend, defaults=core, **options)
