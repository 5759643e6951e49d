"""Persona drift during a run (``evaluate --drift-at K [--drift-kind ...]``; docs/drift.md).

From turn K on the simulated user is played with a changed persona (the mapping of
:mod:`aloe_bench.personas.drift`, computed over the whole persona source before ``--limit``), and
every reply is judged, and every inferred profile scored, against the persona played at its turn.

What the simulator sees:

- turns 1..K-1: the starting persona, exactly as in a run without a drift;
- turn K: the drifted persona, plus a *change notice* (``prompts/simulator_drift.v1.txt``, its hash
  in run.json) saying what changed and who it was before, asking it to mention the change the way a
  person would. The notice reaches the simulator as ``SimRequest.change_notice`` at turn K only;
- turns K+1..: the drifted persona without the notice.

It keeps the whole conversation history throughout: its own earlier messages (written as the old
persona, and at K the one announcing the change) stay in its context, as they would in a person's
memory. The model under test is told nothing: it sees only the user's messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from aloe_bench.components import SimRequest
from aloe_bench.errors import ConfigError
from aloe_bench.personas.drift import DRIFT_MAPPING, drift_targets
from aloe_bench.prompts import prompt_hash, render
from aloe_bench.records import Conversation, Persona, stable_hash

#: The change notice given to the simulator at turn K (a versioned prompt; hash in run.json).
NOTICE_PROMPT = "simulator_drift.v1"
#: Text of the change notice by which tests and scripted servers recognise turn K.
NOTICE_MARKER = "Something in your life has changed since your last message"

_WHAT_CHANGED = {"profile": "the facts of your life are different now",
                 "personality": "your mood and the way you come across are different now",
                 "both": "the facts of your life, your mood and the way you come across are all different now"}


def change_notice(old: Persona, new: Persona, kind: str) -> str:
    """The notice of turn K: what changed (``kind``), the old persona and the new one."""
    return render(NOTICE_PROMPT, what_changed=_WHAT_CHANGED[kind], old_profile=old.profile,
                  old_personality=old.personality, profile=new.profile, personality=new.personality).strip()


def handles_drift(simulator: Any) -> bool:
    """True when a simulator protocol declares that it passes ``change_notice`` on to its model
    (attribute ``handles_change_notice``; the built-in ``aloe`` does)."""
    return bool(getattr(simulator, "handles_change_notice", False))


@dataclass
class RunDrift:
    """The drift of one run: K, the kind, and each starting persona's drifted persona."""

    #: K: the first turn played with the drifted persona.
    at: int
    #: ``profile``, ``personality`` or ``both``.
    kind: str
    #: Starting persona id -> the persona played from K on.
    targets: dict[str, Persona]

    def targets_hash(self) -> str:
        """Hash of what the drifted personas are (ids and texts): compared on resume."""
        return stable_hash({pid: [p.id, p.profile, p.personality] for pid, p in sorted(self.targets.items())})

    def describe(self) -> dict[str, Any]:
        """What run.json records (``RunSpec.drift``)."""
        return {"at": self.at, "kind": self.kind, "mapping": DRIFT_MAPPING, "notice_prompt": NOTICE_PROMPT,
                "notice_prompt_hash": prompt_hash(NOTICE_PROMPT),
                "targets": {pid: p.id for pid, p in self.targets.items()}, "targets_hash": self.targets_hash()}

    def attach(self, convs: Sequence[Conversation]) -> None:
        """Give every conversation its drifted persona and K (in place)."""
        for c in convs:
            c.drifted, c.drift_at = self.targets[c.persona.id], self.at

    def request(self, conv: Conversation, turn: int, **fields: Any) -> SimRequest:
        """The simulator's request for ``turn`` of ``conv``: the persona played at that turn and,
        at K, the change notice."""
        notice = change_notice(conv.persona, self.targets[conv.persona.id], self.kind) if turn == self.at else None
        return SimRequest(persona=conv.persona_at(turn), turn=turn, conversation_id=conv.id,
                               change_notice=notice, **fields)

    def personas(self) -> list[Persona]:
        """The distinct drifted personas, in the order of the starting personas."""
        return list({p.id: p for p in self.targets.values()}.values())


def plan_drift(config, host, personas: Sequence[Persona]) -> RunDrift | None:
    """The run's drift (None without ``drift_at``): the mapping over the whole persona source of
    ``config`` (before ``--limit``) for the run's ``personas``."""
    if config.drift_at is None:
        return None
    from aloe_bench.personas import load_personas

    config.check_drift_settings()
    source = load_personas(config.personas, host)
    return RunDrift(config.drift_at, config.drift_kind,
                    drift_targets(source, personas, config.drift_kind, source_name=repr(config.personas)))


def stored_drift(store, spec, config, host, personas: Sequence[Persona]) -> RunDrift | None:
    """The drift of a stored run (for ``aloe-bench judge``): its stored drifted personas
    (``drift_personas.jsonl``), else the mapping computed again from its persona source; None
    for a run without a drift."""
    if config.drift_at is None:
        return None
    stored = store.read_drift_personas()
    targets_ids = (spec.drift or {}).get("targets") if spec is not None else None
    if stored is not None and targets_ids:
        by_id = {p.id: p for p in stored}
        missing = [pid for pid, tid in targets_ids.items() if tid not in by_id]
        if missing:
            raise ConfigError(f"{store.drift_personas_path} lacks the drifted persona of {missing[0]!r}.",
                              "Restore the run folder's drift_personas.jsonl from a copy.")
        return RunDrift(config.drift_at, config.drift_kind, {pid: by_id[tid] for pid, tid in targets_ids.items()})
    return plan_drift(config, host, personas)
