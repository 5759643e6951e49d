"""The output folder of ``aloe-bench generate``.

::

    OUT/run.json        RunSpec (atomic): config, component specs with prompt hashes, persona
                        source and content hash, versions
    OUT/personas.jsonl  the run's personas (atomic)
    OUT/trees.jsonl     one TreeTurn per conversation turn, appended when the turn is judged
    OUT/sft.jsonl       TRL prompt-completion rows (atomic, rebuilt from trees.jsonl)
    OUT/dpo.jsonl       TRL preference rows (atomic, rebuilt from trees.jsonl)
    OUT/stats.json      GenerationStats (atomic)
    OUT/unrecorded_usage.jsonl  usage of calls whose turn was never stored (a stop at --max-cost,
                        Ctrl-C), one line per invocation that had any; counted in the spend
    OUT/.lock           held by the one process that writes the folder

As in evaluation run folders, a torn last line is ignored and cut off before the next append,
and a turn stored twice counts once (the last record: a failed turn tried again on resume).
"""

from __future__ import annotations

from pathlib import Path

from aloe_bench.evaluation.run_folder import JsonlWriter, RunStore, _last_wins, _warn, read_jsonl
from aloe_bench.fileio import atomic_write_json, atomic_write_text
from aloe_bench.records import GenerationStats, Record, TreeTurn, Usage


class _UsageLine(Record):
    usage: dict[str, Usage]


class GenerationStore(RunStore):
    """One generate output folder."""

    @property
    def trees_path(self) -> Path:
        return self.dir / "trees.jsonl"

    @property
    def sft_path(self) -> Path:
        return self.dir / "sft.jsonl"

    @property
    def dpo_path(self) -> Path:
        return self.dir / "dpo.jsonl"

    @property
    def stats_path(self) -> Path:
        return self.dir / "stats.json"

    def read_trees(self, *, warn: bool = True) -> list[TreeTurn]:
        """Stored tree turns, one per (conversation, turn): the last record wins."""
        trees, torn = read_jsonl(self.trees_path, TreeTurn)
        latest = _last_wins(trees, lambda t: (t.conversation_id, t.turn), lambda t: t.status == "ok",
                            self.trees_path, warn)
        if torn and warn:
            _warn(f"{self.trees_path}: ignored a torn last line (a run was killed mid-write); "
                  f"{len(latest)} turns read.")
        return latest

    @property
    def unrecorded_usage_path(self) -> Path:
        return self.dir / "unrecorded_usage.jsonl"

    def usage(self) -> dict[str, Usage]:
        """Usage and cost per role over every stored record (failed tries and superseded records
        included) and every call whose turn was never stored: what the run cost across all its
        invocations."""
        out: dict[str, Usage] = {}
        for t in read_jsonl(self.trees_path, TreeTurn)[0]:
            for role, u in t.usage.items():
                out.setdefault(role, Usage()).add(u)
        for line in read_jsonl(self.unrecorded_usage_path, _UsageLine)[0]:
            for role, u in line.usage.items():
                out.setdefault(role, Usage()).add(u)
        return out

    def add_unrecorded_usage(self, usage: dict[str, Usage]) -> None:
        """Append one invocation's usage of calls whose turn was never stored."""
        from aloe_bench.fileio import append_lines

        append_lines(self.unrecorded_usage_path, [_UsageLine(usage=usage).model_dump_json()])

    def tree_writer(self) -> JsonlWriter:
        """Appender for trees.jsonl."""
        return JsonlWriter(self.trees_path)

    def write_rows(self, sft: list[dict], dpo: list[dict]) -> None:
        """Write sft.jsonl and dpo.jsonl atomically."""
        import json

        for path, rows in ((self.sft_path, sft), (self.dpo_path, dpo)):
            atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))

    def write_stats(self, stats: GenerationStats) -> None:
        """Write stats.json atomically."""
        atomic_write_json(self.stats_path, stats)

    def read_stats(self) -> GenerationStats | None:
        """The stored stats, or None before the first invocation ended."""
        if not self.stats_path.is_file():
            return None
        return GenerationStats.model_validate_json(self.stats_path.read_text(encoding="utf-8"))
