"""The ALOE prompt protocols over any chat backend: the user simulator
(:mod:`~aloe_bench.protocols.simulators`) and the 1-5 judge (:mod:`~aloe_bench.protocols.judges`).
Their prompt files live in :mod:`aloe_bench.prompts`."""
