"""Human labels: a seeded sample of a run's turns written as a CSV for people to score
(``aloe-bench export-labels``, docs/validity.md).

The file holds what the ALOE judge sees in its published (``turn``) mode: the persona played at
that turn, the user's message and the model's reply, plus an empty ``score`` column. Filled in, it
is read back by ``aloe-bench agreement`` as is (:func:`aloe_bench.validity.scoresets.read_label_csv`).
The judge's own score is not in the file, so it cannot anchor the labeller.
"""

from __future__ import annotations

import csv
import io
import random
from dataclasses import dataclass
from pathlib import Path

from aloe_bench.errors import ConfigError, DataError
from aloe_bench.fileio import atomic_write_text

#: The columns of a label file, in order; ``score`` is left empty for the labeller.
LABEL_COLUMNS = ("conversation_id", "turn", "persona_id", "profile", "personality", "user_message", "reply", "score")


@dataclass(frozen=True)
class ExportedLabels:
    """What :func:`export_labels` wrote."""

    #: The CSV file written.
    path: Path
    #: Rows written (turns sampled).
    rows: int
    #: Turns with a reply in the run: the population sampled from.
    available: int


def label_rows(run_dir: str | Path, *, sample: int, seed: int = 0) -> tuple[list[dict[str, str]], int]:
    """Rows of a label file for ``sample`` turns of ``run_dir`` drawn without replacement, and
    the number of turns there were to draw from (turns with a reply).

    The draw is ``random.Random(seed).sample`` over the turns sorted by (conversation id, turn), so
    one run, ``sample`` and ``seed`` always give the same rows, in the drawn (random) order; with
    fewer turns than ``sample``, every turn is written."""
    from aloe_bench.evaluation.run_folder import RunStore

    if sample < 1:
        raise ConfigError(f"--sample must be at least 1, got {sample}.")
    store = RunStore(run_dir)
    if not store.exists():
        raise DataError(f"{store.dir} is not a run folder (no run.json).",
                        "Pass the --output folder of an `aloe-bench evaluate` run.")
    personas = {p.id: p for p in (store.read_personas() or []) + (store.read_drift_personas() or [])}
    if not personas:
        raise DataError(f"{store.dir} has no personas.jsonl (a run made by an older aloe-bench).",
                        "Re-run it with this version, or label it from its transcripts by hand.")
    turns = sorted((t for t in store.read_turns()[0] if t.status == "ok" and t.reply is not None),
                   key=lambda t: (t.conversation_id, t.turn))
    if not turns:
        raise DataError(f"{store.dir} holds no replies to label (transcripts.jsonl has no finished turn).",
                        f"Run it first: `aloe-bench evaluate --output {store.dir} --resume`.")
    chosen = random.Random(seed).sample(turns, min(sample, len(turns)))
    rows = []
    for t in chosen:
        persona_id = t.active_persona_id or t.persona_id
        persona = personas.get(persona_id)
        if persona is None:
            raise DataError(f"{store.dir}: persona {persona_id!r} of {t.conversation_id} is not in the run's "
                            "persona files.", "The run folder is incomplete; re-run it into a new folder.")
        rows.append({"conversation_id": t.conversation_id, "turn": str(t.turn), "persona_id": persona_id,
                     "profile": persona.profile, "personality": persona.personality, "user_message": t.user,
                     "reply": t.reply or "", "score": ""})
    return rows, len(turns)


def labels_csv(rows: list[dict[str, str]]) -> str:
    """``rows`` as CSV text with the :data:`LABEL_COLUMNS` header (fields quoted where needed)."""
    buf = io.StringIO(newline="")
    writer = csv.DictWriter(buf, fieldnames=LABEL_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def export_labels(run_dir: str | Path, output: str | Path, *, sample: int, seed: int = 0,
                  force: bool = False) -> ExportedLabels:
    """Write a label file of ``sample`` turns of ``run_dir`` (:func:`label_rows`) to ``output``
    atomically. ``output`` must end in ``.csv`` (how ``aloe-bench agreement`` recognises label
    files); an existing file is replaced only with ``force``."""
    output = Path(output)
    if output.suffix.lower() != ".csv":
        raise ConfigError(f"--output {output} must end in .csv.",
                          "`aloe-bench agreement` recognises a label file by its .csv name.")
    if output.exists() and not force:
        raise ConfigError(f"{output} already exists.", "Pass --force to replace it, or choose another --output.")
    from aloe_bench.evaluation.preflight import check_output_file_writable

    check_output_file_writable(output)
    rows, available = label_rows(run_dir, sample=sample, seed=seed)
    atomic_write_text(output, labels_csv(rows))
    return ExportedLabels(path=output, rows=len(rows), available=available)
