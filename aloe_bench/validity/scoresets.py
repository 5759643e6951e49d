"""Score sets compared by ``aloe-bench agreement``, and their pairing turn by turn.

A score set is one of:

- a run folder: its own scores (``RUN/scores.jsonl``);
- a re-scoring inside a run: ``RUN/judgements/NAME`` (``aloe-bench judge``);
- a human-label CSV, recognised by its ``.csv`` name: the columns ``conversation_id``, ``turn``
  and ``score`` (others, such as those ``aloe-bench export-labels`` writes, are ignored; an
  empty score is a turn not labelled yet).

Turns are paired by ``(conversation_id, turn)``: conversation ids are stable hashes of (persona,
seed, sample), so a run, its re-scorings and labels exported from it share them. Each turn may
hold several judgements (``judge_samples``); every score keeps two views:

- ``raw``: the stored score (a probability judge's probability-weighted mean over 1-5);
- ``grade``: the integer 1-5 (a probability judge's argmax; otherwise the score rounded half up).
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from aloe_bench.errors import DataError
from aloe_bench.fileio import decode_utf8

#: The ALOE judge's scale; scores outside it are refused.
SCALE = (1, 5)

#: The columns a label CSV must have (others are ignored).
LABEL_KEY_COLUMNS = ("conversation_id", "turn", "score")

_LABELS_HINT = ("A label file is a CSV with conversation_id, turn and score columns: write one with "
                "`aloe-bench export-labels RUN --sample N --output FILE.csv` and fill in its score column.")

#: A turn's key in every score set: (conversation id, turn number from 1).
TurnKey = tuple[str, int]


@dataclass(frozen=True)
class Judged:
    """One score of one reply, in both views used by the agreement figures."""

    #: The stored score (a probability judge's probability-weighted mean); None when missing.
    raw: float | None
    #: The integer 1-5 (a probability judge's argmax, else ``raw`` rounded half up); None when missing.
    grade: int | None


@dataclass
class ScoreSet:
    """The scores of one source, per turn."""

    #: The path it was read from, for display.
    source: str
    #: ``run`` (a run's own scores), ``judgement`` (``RUN/judgements/NAME``) or ``labels`` (a CSV).
    kind: str
    #: Per (conversation id, turn): its judgements, one per judge sample in sample order (one for
    #: a label file); missing scores are kept as ``Judged(None, None)`` so they can be counted.
    scores: dict[TurnKey, list[Judged]] = field(default_factory=dict)
    #: The reply text of each turn when the source holds it (runs; label files with a ``reply``
    #: column), used to check that two sets scored the same replies.
    replies: dict[TurnKey, str] = field(default_factory=dict)

    def scored(self) -> set[TurnKey]:
        """Turns with at least one valid score."""
        return {k for k, js in self.scores.items() if any(j.raw is not None for j in js)}

    def nulls(self) -> int:
        """Missing scores (null judge scores, empty label cells), counted one per judgement."""
        return sum(j.raw is None for js in self.scores.values() for j in js)


def _check_scale(value: float, where: str) -> None:
    if not (SCALE[0] <= value <= SCALE[1]):
        raise DataError(f"{where}: score {value:g} is outside {SCALE[0]}-{SCALE[1]}.",
                        "Agreement compares scores on the ALOE judge's 1-5 scale.")


def _half_up(value: float) -> int:
    return int(math.floor(value + 0.5))


def load_score_set(path: str | Path) -> ScoreSet:
    """The score set at ``path``: a ``.csv`` label file, ``RUN/judgements/NAME`` or a run folder.

    Raises :class:`DataError` for a missing path, a folder that is no run, a set with no valid
    score, a CSV without the needed columns and scores outside 1-5."""
    p = Path(path)
    if not p.exists():
        raise DataError(f"{p} does not exist.", "Pass a run folder, RUN/judgements/NAME or a .csv label file.")
    if p.is_file():
        if p.suffix.lower() != ".csv":
            raise DataError(f"{p} is neither a run folder nor a .csv label file.",
                            "Pass a run folder, RUN/judgements/NAME or a .csv label file.")
        return read_label_csv(p)
    if (p / "run.json").is_file():
        return read_run_scores(p)
    if p.parent.name == "judgements" and (p.parent.parent / "run.json").is_file():
        return read_run_scores(p.parent.parent, p.name)
    raise DataError(f"{p} is not a run folder (no run.json) nor a re-scoring (RUN/judgements/NAME).",
                    "Pass the --output folder of `aloe-bench evaluate`, RUN/judgements/NAME or a .csv label file.")


def read_run_scores(run_dir: str | Path, judgement: str | None = None) -> ScoreSet:
    """The scores of a run folder (``judgement``: of its re-scoring ``judgements/NAME``), one
    entry per judge sample (the last stored record of each wins), and the run's reply texts."""
    from aloe_bench.evaluation.run_folder import RunStore

    store = RunStore(run_dir, scores_name=judgement)
    source = str(store.scores_dir)
    if not store.scores_path.is_file():
        raise DataError(f"{source} holds no scores (no {store.scores_path.name}).",
                        "Judge the run first (`aloe-bench evaluate --resume`, or `aloe-bench judge`).")
    records = store.read_scores()[0]
    if not records:
        raise DataError(f"{store.scores_path} holds no scores.",
                        "Judge the run first (`aloe-bench evaluate --resume`, or `aloe-bench judge`).")
    out = ScoreSet(source=source, kind="judgement" if judgement else "run")
    for s in sorted(records, key=lambda r: (r.conversation_id, r.turn, r.sample)):
        where = f"{store.scores_path} ({s.conversation_id} turn {s.turn})"
        if s.score is None:
            judged = Judged(None, None)
        else:
            _check_scale(float(s.score), where)
            grade = s.argmax if s.argmax is not None else _half_up(float(s.score))
            _check_scale(float(grade), where)
            judged = Judged(float(s.score), int(grade))
        out.scores.setdefault((s.conversation_id, s.turn), []).append(judged)
    for t in store.read_turns(warn=False)[0]:
        if t.status == "ok" and t.reply is not None:
            out.replies[(t.conversation_id, t.turn)] = t.reply
    return out


def read_label_csv(path: str | Path) -> ScoreSet:
    """Human labels from a CSV with ``conversation_id``, ``turn`` and ``score`` columns (UTF-8,
    a byte-order mark allowed). An empty score is a turn not labelled (counted as missing); a
    score is a number from 1 to 5 (its grade: rounded half up). A ``reply`` column, when present,
    is kept to check that the labels are of the same replies. A turn listed twice is an error."""
    path = Path(path)
    text = decode_utf8(path.read_bytes(), path)
    if text.startswith("\ufeff"):
        text = text[1:]
    reader = csv.DictReader(io.StringIO(text, newline=""))
    columns = [c.strip() for c in reader.fieldnames or []]
    missing = [c for c in LABEL_KEY_COLUMNS if c not in columns]
    if missing:
        raise DataError(f"{path} has no {', '.join(missing)} column{'s' if len(missing) > 1 else ''}.", _LABELS_HINT)
    reader.fieldnames = columns
    out = ScoreSet(source=str(path), kind="labels")
    seen: dict[TurnKey, int] = {}
    for row in reader:
        line = reader.line_num
        cid = (row.get("conversation_id") or "").strip()
        turn_text = (row.get("turn") or "").strip()
        if not cid and not turn_text and not (row.get("score") or "").strip():
            continue  # a blank row
        try:
            turn = int(turn_text)
        except ValueError:
            turn = 0
        if not cid or turn < 1:
            raise DataError(f"{path}:{line}: needs a conversation_id and a turn number from 1 "
                            f"(got {cid!r}, {turn_text!r}).", _LABELS_HINT)
        key = (cid, turn)
        if key in seen:
            raise DataError(f"{path}:{line}: {cid} turn {turn} is labelled twice (first on line {seen[key]}).",
                            "Keep one row per turn.")
        seen[key] = line
        score_text = (row.get("score") or "").strip()
        if not score_text:
            out.scores[key] = [Judged(None, None)]
        else:
            try:
                value = float(score_text)
            except ValueError:
                raise DataError(f"{path}:{line}: score {score_text!r} is not a number.",
                                "Write a whole number from 1 to 5, or leave the cell empty.") from None
            if math.isnan(value):
                raise DataError(f"{path}:{line}: score {score_text!r} is not a number.",
                                "Write a whole number from 1 to 5, or leave the cell empty.")
            _check_scale(value, f"{path}:{line}")
            out.scores[key] = [Judged(value, _half_up(value))]
        reply = row.get("reply")
        if reply is not None:
            out.replies[key] = reply
    if not out.scores:
        raise DataError(f"{path} holds no rows.", _LABELS_HINT)
    if not out.scored():
        raise DataError(f"{path} has no score filled in ({len(out.scores)} rows, every score empty).",
                        "Fill in the score column (1-5) of the turns you labelled.")
    return out


@dataclass(frozen=True)
class PairedScores:
    """Two score sets paired turn by turn (:func:`pair_score_sets`): the input of
    :func:`aloe_bench.validity.agreement.measure_agreement`.

    A paired turn has at least one valid score in each set. Two views:

    - per paired turn, the mean of each set's valid raw scores over its judge samples (Spearman,
      alpha): ``turn_conv``, ``raw_a``, ``raw_b``;
    - per pair of integer grades, every valid sample of A with every valid sample of B of the
      same turn (kappa, exact agreement, the table): ``grade_conv``, ``grade_a``, ``grade_b``.
      With one score per turn on each side these are the paired turns themselves.
    """

    #: Ids of the conversations holding paired turns, each once: the bootstrap's units.
    conversations: list[str]
    #: Per paired turn: the index of its conversation in ``conversations``.
    turn_conv: np.ndarray
    #: Per paired turn: A's raw score (mean over A's valid samples).
    raw_a: np.ndarray
    #: Per paired turn: B's raw score (mean over B's valid samples).
    raw_b: np.ndarray
    #: Per integer pair: the index of its conversation in ``conversations``.
    grade_conv: np.ndarray
    #: Per integer pair: A's grade (1-5).
    grade_a: np.ndarray
    #: Per integer pair: B's grade (1-5).
    grade_b: np.ndarray
    #: What was left out, per side (``a``, ``b``): ``null`` (missing scores: null judge scores,
    #: empty label cells, counted per judgement) and ``unpaired`` (turns with a valid score on
    #: this side and none on the other).
    excluded: dict[str, dict[str, int]]

    @property
    def n(self) -> int:
        """Paired turns."""
        return int(self.raw_a.size)

    @property
    def pairs(self) -> int:
        """Integer pairs (equal to :attr:`n` with one judgement per turn on each side)."""
        return int(self.grade_a.size)


def _same_text(a: str, b: str) -> bool:
    return " ".join(a.split()) == " ".join(b.split())


def pair_score_sets(a: ScoreSet, b: ScoreSet) -> PairedScores:
    """Pair ``a`` and ``b`` by (conversation id, turn) (see :class:`PairedScores`).

    Missing scores are counted and left out, never read as 0. Raises :class:`DataError` when no
    turn is paired, or when the two sets hold different reply texts for paired turns (two
    different runs: their conversation ids match but their replies do not)."""
    scored_a, scored_b = a.scored(), b.scored()
    keys = sorted(scored_a & scored_b)
    if not keys:
        raise DataError(f"{a.source} and {b.source} have no scored turn in common "
                        f"({len(scored_a)} and {len(scored_b)} scored turns).",
                        "Compare score sets of the same run: the run, its judgements/NAME, or labels exported from it.")
    differ = [k for k in keys if k in a.replies and k in b.replies and not _same_text(a.replies[k], b.replies[k])]
    if differ:
        cid, turn = differ[0]
        raise DataError(f"{a.source} and {b.source} scored different replies for {len(differ)} of {len(keys)} paired "
                        f"turns (first: {cid} turn {turn}).",
                        "Compare score sets of the same run: the run, its judgements/NAME, or labels exported from it.")
    conv_index: dict[str, int] = {}
    turn_conv, raw_a, raw_b = [], [], []
    grade_conv, grade_a, grade_b = [], [], []
    for key in keys:
        ci = conv_index.setdefault(key[0], len(conv_index))
        ja = [j for j in a.scores[key] if j.raw is not None]
        jb = [j for j in b.scores[key] if j.raw is not None]
        turn_conv.append(ci)
        raw_a.append(sum(j.raw for j in ja) / len(ja))  # type: ignore[misc]
        raw_b.append(sum(j.raw for j in jb) / len(jb))  # type: ignore[misc]
        for x in ja:
            for y in jb:
                grade_conv.append(ci)
                grade_a.append(x.grade)
                grade_b.append(y.grade)
    excluded = {"a": {"null": a.nulls(), "unpaired": len(scored_a - scored_b)},
                "b": {"null": b.nulls(), "unpaired": len(scored_b - scored_a)}}
    return PairedScores(conversations=list(conv_index), turn_conv=np.array(turn_conv, dtype=np.int64),
                        raw_a=np.array(raw_a, dtype=float), raw_b=np.array(raw_b, dtype=float),
                        grade_conv=np.array(grade_conv, dtype=np.int64), grade_a=np.array(grade_a, dtype=np.int64),
                        grade_b=np.array(grade_b, dtype=np.int64), excluded=excluded)
