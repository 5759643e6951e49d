"""Built-in persona sources: the official ALOE sets, JSONL files and the shipped ``sample``.

Registration imports nothing heavy: the persona modules (and pydantic, through the records) load
when a source is first used, so ``aloe-bench --help`` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aloe_bench.errors import ConfigError
from aloe_bench.hookspecs import hookimpl

if TYPE_CHECKING:
    from aloe_bench.records import Persona


def _no_arg(scheme, fn):
    def factory(arg: str = ""):
        if arg:
            raise ConfigError(f"Persona source {scheme!r} takes no argument (got {scheme}:{arg}).")
        return fn()
    return factory


def _eval() -> list[Persona]:
    from aloe_bench.personas import official

    return official.eval_personas()


def _train() -> list[Persona]:
    from aloe_bench.personas import official

    return official.train_personas()


def _profiles() -> list[Persona]:
    from aloe_bench.personas import official
    from aloe_bench.records import Persona

    return [Persona(id=f"aloe-profile-{i + 1:03d}", profile=p, personality="", source="aloe-profiles")
            for i, p in enumerate(official.profiles())]


def _personalities() -> list[Persona]:
    from aloe_bench.personas import official
    from aloe_bench.records import Persona

    return [Persona(id=f"aloe-personality-{i + 1:02d}", profile="", personality=p, source="aloe-personalities")
            for i, p in enumerate(official.personalities())]


def _sample() -> list[Persona]:
    from aloe_bench.testing.sample import sample_personas

    return sample_personas()


def _jsonl(arg: str) -> list[Persona]:
    from aloe_bench.personas.jsonl import read_persona_file

    if not arg:
        raise ConfigError("jsonl persona source needs a path.", "Use --personas jsonl:path/to/personas.jsonl.")
    return read_persona_file(arg)


@hookimpl
def aloe_register_persona_sources(register):
    register("aloe-eval", _no_arg("aloe-eval", _eval),
             description="The ALOE benchmark: 20 eval profiles x 5 eval personalities (100)")
    register("aloe-train", _no_arg("aloe-train", _train),
             description="331 ALOE training profiles x 10 seeded personality draws (3,310)")
    register("aloe-profiles", _no_arg("aloe-profiles", _profiles),
             description="The 331 raw ALOE training profiles (personality empty)")
    register("aloe-personalities", _no_arg("aloe-personalities", _personalities),
             description="The 71 raw ALOE training personalities (profile empty)")
    register("sample", _no_arg("sample", _sample),
             description="8 personas shipped with aloe-bench (no data files; tests, plugin development)")
    register("jsonl", _jsonl, description="jsonl:PATH, objects with id, profile, personality")
