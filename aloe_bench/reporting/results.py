"""Finished runs as reports see them: run spec, summary, and the per-conversation score matrix.

A *result* is one score set of one run folder: the run's own scores (``RUN_DIR``) or a
re-scoring by ``aloe-bench judge`` (``RUN_DIR/judgements/NAME``). The score matrix (one row per
conversation, one column per turn) comes from ``scores.jsonl`` when the folder has it, else from
``score_matrix.json``, which published results carry instead of transcripts (see
:mod:`aloe_bench.reporting.publish`). Per-turn confidence intervals of AL(k) are bootstrapped over
conversations, like the summary's intervals of Average and IR.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from aloe_bench.errors import DataError
from aloe_bench.metrics import mean_score_matrix, persona_means, resampled_curves
from aloe_bench.records import SCHEMA_VERSION, LengthFigures, RunSpec, RunSummary, Turn, TurnScore
from aloe_bench.evaluation.run_folder import RunStore

SCORE_MATRIX_FILE = "score_matrix.json"

@dataclass
class ScoreMatrix:
    """Judge scores of one run: ``values[i, k-1]`` is conversation i's score at turn k (mean over
    judge samples), NaN where the turn has no valid score."""

    conversation_ids: list[str]
    persona_ids: list[str]
    values: np.ndarray

    @property
    def turns(self) -> int:
        """Number of turns (columns)."""
        return int(self.values.shape[1])

    def turn_ci(self, *, level: float = 0.95, resamples: int = 1000, seed: int = 0
                ) -> tuple[list[float | None], list[float | None]]:
        """Percentile-bootstrap interval of AL(k) per turn, resampling personas (the repeats of
        ``--repeats`` averaged per persona first; one conversation per persona otherwise).

        Seeded, so the same run always draws the same bands. A turn with no score gets None.
        """
        rows, turns = self.values.shape
        if rows == 0:
            return [None] * turns, [None] * turns
        curves = resampled_curves(persona_means(self.values, self.persona_ids), resamples=resamples, seed=seed)
        alpha = (1 - level) / 2
        low: list[float | None] = []
        high: list[float | None] = []
        for k in range(turns):
            means = curves[:, k][~np.isnan(curves[:, k])]
            if not means.size:
                low.append(None)
                high.append(None)
                continue
            lo, hi = np.quantile(means, [alpha, 1 - alpha])
            low.append(float(lo))
            high.append(float(hi))
        return low, high

    def to_json(self) -> dict:
        """Plain data for ``score_matrix.json`` (None for missing scores)."""
        return {
            "schema_version": SCHEMA_VERSION,
            "conversation_ids": self.conversation_ids,
            "persona_ids": self.persona_ids,
            "scores": [[None if np.isnan(v) else float(v) for v in row] for row in self.values],
        }

    @classmethod
    def from_json(cls, data: dict, path: Path) -> "ScoreMatrix":
        """Inverse of :meth:`to_json`; a :class:`DataError` naming ``path`` when malformed."""
        try:
            rows = data["scores"]
            values = np.array([[np.nan if v is None else float(v) for v in row] for row in rows], dtype=float)
            cids, pids = list(data["conversation_ids"]), list(data["persona_ids"])
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"{path} is not a valid score matrix ({type(exc).__name__}).") from None
        if not rows:
            values = np.zeros((0, 0))
        if values.ndim != 2 or len(cids) != len(rows) or len(pids) != len(rows):
            raise DataError(f"{path} is not a valid score matrix (row counts differ).")
        return cls(cids, pids, values)


def build_score_matrix(turns: list[Turn], scores: list[TurnScore], k: int, aggregate: str = "mean") -> ScoreMatrix:
    """The score matrix of stored turns and scores; conversations in order of first appearance.
    ``aggregate`` combines a judge ensemble's members (``mean`` or ``median``, as the run did)."""
    order: dict[str, str] = {}
    for t in turns:
        order.setdefault(t.conversation_id, t.persona_id)
    for s in scores:
        order.setdefault(s.conversation_id, s.persona_id)
    values = mean_score_matrix(scores, {cid: i for i, cid in enumerate(order)}, k, aggregate=aggregate)
    return ScoreMatrix(list(order), list(order.values()), values)


@dataclass
class RunResult:
    """One score set of one run folder, loaded for reporting."""

    path: Path
    name: str
    spec: RunSpec
    summary: RunSummary
    store: RunStore
    matrix: ScoreMatrix | None = None
    judgement: str | None = None
    #: The general-capability check beside the run (its regress.json from ``aloe-bench regress``,
    #: plugin aloe-bench-lmeval; docs/lmeval.md), None without one.
    regress: dict | None = None
    _ci: tuple[list[float | None], list[float | None]] | None = field(default=None, repr=False)
    _pf1_ci: tuple[list[float | None], list[float | None]] | None = field(default=None, repr=False)
    _length: tuple[LengthFigures | None] | None = field(default=None, repr=False)

    @property
    def status(self) -> str:
        """``complete``, ``incomplete``, or ``unknown`` (a summary written before aloe-bench
        recorded the status: ``aloe-bench evaluate --resume`` on the run writes a new one)."""
        return self.summary.status

    @property
    def complete(self) -> bool:
        """True only for runs whose summary says ``complete``."""
        return self.summary.status == "complete"

    def status_note(self) -> str:
        """One line saying why this result is not complete (empty when it is)."""
        if self.complete:
            return ""
        if self.summary.status == "unknown":
            return (f"{self.name}: status unknown (made before aloe-bench recorded whether a run is complete); "
                    f"`aloe-bench evaluate --output {self.path} --resume` with its settings records it.")
        what = "; ".join(self.summary.failures.lines()) or "see its summary.json"
        return f"{self.name} is INCOMPLETE: {what}."

    @property
    def label(self) -> str:
        """Short legend label: the model spec (callers disambiguate duplicates)."""
        return self.summary.model

    def turn_ci(self) -> tuple[list[float | None], list[float | None]]:
        """Per-turn 95% interval of AL(k) (all None when no score matrix is available)."""
        if self._ci is None:
            if self.matrix is None:
                self._ci = ([None] * self.summary.turns, [None] * self.summary.turns)
            else:
                self._ci = self.matrix.turn_ci(seed=self.spec.seed)
        return self._ci

    @property
    def has_pf1(self) -> bool:
        """True for a run with a profile measurement (its summary holds PF1(k))."""
        return self.summary.pf1 is not None

    def pf1_matrix(self) -> ScoreMatrix | None:
        """Profile F1 per conversation (rows) and turn, from the run's probes.jsonl (the last
        record of each (conversation, turn); NaN where none was scored); None without that file
        (no profile measurement, or published results that keep summaries only)."""
        if not self.has_pf1 or not self.store.probes_path.is_file():
            return None
        from aloe_bench.metrics import profile_matrix

        with _reading(self.store.probes_path):
            records = self.store.read_probes()[0]
        order: dict[str, str] = {}
        for r in records:
            order.setdefault(r.conversation_id, r.persona_id)
        values = profile_matrix(records, {cid: i for i, cid in enumerate(order)}, self.summary.turns)
        return ScoreMatrix(list(order), list(order.values()), values)

    def pf1_turn_ci(self) -> tuple[list[float | None], list[float | None]]:
        """Per-turn 95% interval of PF1(k), bootstrapped over conversations like :meth:`turn_ci`
        (all None without probes.jsonl)."""
        if self._pf1_ci is None:
            m = self.pf1_matrix()
            none = ([None] * self.summary.turns, [None] * self.summary.turns)
            self._pf1_ci = none if m is None else m.turn_ci(seed=self.spec.seed)
        return self._pf1_ci

    def length_figures(self) -> LengthFigures | None:
        """The run's regression of score on reply length and its length-adjusted Average
        (docs/validity.md): the summary's ``length``; for a summary written before aloe-bench
        recorded it, computed from the folder's transcripts and scores as ``evaluate`` would have
        (1000 bootstrap resamples, the default, and the run's seed); None when neither is there
        (published results keep no transcripts)."""
        if self._length is None:
            figures = self.summary.length
            if figures is None and self.has_transcripts() and self.matrix is not None:
                from aloe_bench.validity.length import length_figures, matrix_replies

                with _reading(self.store.transcripts_path):
                    turns = self.read_turns()
                m = self.matrix
                figures = length_figures(matrix_replies(m.values, m.conversation_ids, m.persona_ids, turns),
                                         resamples=1000, seed=self.spec.seed)
            self._length = (figures,)
        return self._length[0]

    def has_transcripts(self) -> bool:
        """True when the folder still holds its transcripts (published results do not)."""
        return self.store.transcripts_path.is_file()

    def read_turns(self) -> list[Turn]:
        """Stored turns of the run."""
        return self.store.read_turns()[0]

    def read_scores(self) -> list[TurnScore]:
        """Stored scores of this score set."""
        return self.store.read_scores()[0]


def load_result(path: str | Path, judgement: str | None = None) -> RunResult:
    """Load ``path`` (a run folder or a ``RUN_DIR/judgements/NAME`` folder) for reporting.

    ``judgement`` picks a re-scoring of a run folder by name.
    """
    path = Path(path)
    if judgement is None and path.parent.name == "judgements" and (path.parent.parent / "run.json").is_file():
        run_dir, judgement = path.parent.parent, path.name
    else:
        run_dir = path
    store = RunStore(run_dir, scores_name=judgement)
    with _reading(store.spec_path):
        spec = store.read_spec()
    if judgement is not None and not store.scores_dir.is_dir():
        existing = sorted(p.name for p in (run_dir / "judgements").glob("*") if p.is_dir())
        raise DataError(f"{run_dir} has no re-scoring named {judgement!r}.",
                        f"Available: {', '.join(existing) or 'none'}.")
    try:
        with _reading(store.summary_path, unicode=False):
            summary = store.read_summary()
    except ValueError as exc:  # pydantic ValidationError is a ValueError
        raise DataError(f"{store.summary_path} is not a valid run summary ({type(exc).__name__}).") from None
    name = run_dir.name if judgement is None else f"{run_dir.name}/{judgement}"
    result = RunResult(path=run_dir, name=name, spec=spec, summary=summary, store=store, judgement=judgement)
    result.matrix = _load_matrix(store, summary.turns, summary.judges.aggregate if summary.judges else "mean")
    result.regress = load_regress_record(run_dir)
    return result


@contextmanager
def _reading(path: Path, *, unicode: bool = True):
    """Turn a file that cannot be read (or, with ``unicode``, is not UTF-8) into a
    :class:`DataError` naming ``path``."""
    try:
        yield
    except UnicodeDecodeError as exc:
        if not unicode:
            raise
        raise DataError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start}).",
                        "Restore the file from a copy, or re-run into a new folder.") from None
    except OSError as exc:
        raise DataError(f"Cannot read {path}: {exc.strerror or type(exc).__name__}.") from None


#: The general-capability check's file in a run folder (written by ``aloe-bench regress``).
REGRESS_FILE = "regress.json"


def load_regress_record(run_dir: Path) -> dict | None:
    """The finished regress.json in ``run_dir`` (``aloe-bench regress``, docs/lmeval.md) as a
    dict, None when there is none; a :class:`DataError` naming the file when it is not one."""
    path = run_dir / REGRESS_FILE
    if not path.is_file():
        return None
    try:
        with _reading(path):
            record = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"{path} is not valid JSON ({exc.msg}).", "Run `aloe-bench regress` again into this "
                                                                  "folder, or remove the file.") from None
    if not isinstance(record, dict) or record.get("kind") != "aloe-bench-regress" \
            or not isinstance(record.get("tasks"), dict) or not isinstance(record.get("summary"), dict):
        raise DataError(f"{path} is not a regress.json written by `aloe-bench regress`.")
    return record if record.get("status") == "complete" else None


def _load_matrix(store: RunStore, k: int, aggregate: str = "mean") -> ScoreMatrix | None:
    if store.scores_path.is_file():
        with _reading(store.transcripts_path):
            turns = store.read_turns()[0] if store.transcripts_path.is_file() else []
        with _reading(store.scores_path):
            return build_score_matrix(turns, store.read_scores()[0], k, aggregate)
    stored = store.scores_dir / SCORE_MATRIX_FILE
    if stored.is_file():
        try:
            with _reading(stored):
                data = json.loads(stored.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise DataError(f"{stored} is not valid JSON ({exc.msg}).") from None
        return ScoreMatrix.from_json(data, stored)
    return None


def expand_result_paths(paths: list[str] | tuple[str, ...], *, judgements: bool = False) -> list[Path]:
    """Result folders among ``paths``: run folders, ``judgements/NAME`` folders, and folders
    holding run folders (one level down). With ``judgements``, every re-scoring of each run is
    added after it."""
    out: list[Path] = []
    for p in map(Path, paths):
        if (p / "run.json").is_file() or (p.parent.name == "judgements" and (p / "summary.json").is_file()):
            found = [p]
        elif p.is_dir():
            found = sorted(d for d in p.iterdir() if (d / "run.json").is_file())
            if not found:
                raise DataError(f"{p} is neither a run folder nor a folder of run folders (no run.json).",
                                "Pass the --output folder of an `aloe-bench evaluate` run.")
        elif p.exists():
            raise DataError(f"{p} is a file, not a run folder.",
                            "Pass the --output folder of an `aloe-bench evaluate` run.")
        else:
            raise DataError(f"{p} does not exist.")
        for run in found:
            out.append(run)
            if judgements and (run / "run.json").is_file():
                out.extend(sorted(d for d in (run / "judgements").glob("*") if (d / "summary.json").is_file()))
    if not out:
        raise DataError("No run folders given.", "Pass one or more RUN_DIR arguments.")
    return out


def load_results(paths: list[str] | tuple[str, ...], *, judgements: bool = False,
                 on_error: Callable[[Path, DataError], None] | None = None) -> list[RunResult]:
    """:func:`load_result` over :func:`expand_result_paths`; the same folder twice is loaded once.

    Without ``on_error`` the first result that cannot be loaded raises its :class:`DataError`.
    With it, such a result is skipped and ``on_error(path, error)`` is called (to warn); only
    when no result at all loads is that a :class:`DataError`."""
    seen: set[Path] = set()
    results = []
    skipped = 0
    for p in expand_result_paths(paths, judgements=judgements):
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            if on_error is None:
                results.append(load_result(p))
                continue
            try:
                results.append(load_result(p))
            except DataError as exc:
                skipped += 1
                on_error(p, exc)
    if skipped and not results:
        raise DataError(f"No run could be loaded ({skipped} skipped, see the warnings above).",
                        "Fix or remove the broken run folders, or pass working ones.")
    return results


def unique_labels(results: list[RunResult]) -> list[str]:
    """Legend labels: the model spec, plus the result name where two results share a model."""
    models = [r.summary.model for r in results]
    return [m if models.count(m) == 1 else f"{m} ({r.name})" for m, r in zip(models, results)]
