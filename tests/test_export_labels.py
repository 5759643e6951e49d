"""``aloe-bench export-labels``: a seeded, stable sample of a run's turns as a CSV to label, written
atomically, never over an existing file without --force, and read back by ``aloe-bench agreement``
once filled in."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from aloe_bench.cli import cli
from aloe_bench.validity.agreement import agreement_between
from aloe_bench.validity.labels import LABEL_COLUMNS
from tests.reporting_runs import make_host, make_run


@pytest.fixture(scope="module")
def run(tmp_path_factory, aloe_data_dir) -> Path:
    """A scripted run: 6 conversations of 3 turns (18 replies)."""
    with pytest.MonkeyPatch.context() as mp:
        host = make_host(aloe_data_dir, mp)
        return make_run(tmp_path_factory.mktemp("labels") / "run", host, "trend:3:0.4", turns=3, limit=6)


def export(*args: str):
    return CliRunner().invoke(cli, ["export-labels", *map(str, args)])


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_export_writes_real_turns_with_an_empty_score_column(run, tmp_path):
    out = tmp_path / "labels.csv"
    res = export(run, "--sample", 5, "--output", out)
    assert res.exit_code == 0, res.output
    assert "Wrote 5 turns of 18" in res.output
    rows = read_rows(out)
    assert len(rows) == 5 and tuple(rows[0]) == LABEL_COLUMNS
    turns = {(t["conversation_id"], t["turn"]): t for t in _jsonl(run / "transcripts.jsonl")}
    personas = {p["id"]: p for p in _jsonl(run / "personas.jsonl")}
    assert len({(r["conversation_id"], r["turn"]) for r in rows}) == 5
    for row in rows:
        turn = turns[(row["conversation_id"], int(row["turn"]))]
        assert row["reply"] == turn["reply"] and row["user_message"] == turn["user"]
        assert row["persona_id"] == turn["persona_id"]
        assert row["profile"] == personas[row["persona_id"]]["profile"]
        assert row["personality"] == personas[row["persona_id"]]["personality"]
        assert row["score"] == ""
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp file left (atomic write)


def test_the_sample_is_seeded_and_stable(run, tmp_path):
    paths = {}
    for name, seed in (("one", 0), ("two", 0), ("other", 1)):
        paths[name] = tmp_path / f"{name}.csv"
        assert export(run, "--sample", 6, "--output", paths[name], "--seed", seed).exit_code == 0
    assert paths["one"].read_bytes() == paths["two"].read_bytes()
    assert paths["one"].read_bytes() != paths["other"].read_bytes()
    # Asking for more than the run holds writes every turn once.
    every = tmp_path / "every.csv"
    res = export(run, "--sample", 100, "--output", every)
    assert res.exit_code == 0 and "only 18 replies" in res.output
    assert len({(r["conversation_id"], r["turn"]) for r in read_rows(every)}) == 18


def test_existing_file_needs_force_and_output_must_be_csv(run, tmp_path):
    out = tmp_path / "labels.csv"
    out.write_text("my labels, keep them\n")
    res = export(run, "--sample", 3, "--output", out)
    assert res.exit_code == 2 and "already exists" in res.output and "--force" in res.output
    assert out.read_text() == "my labels, keep them\n"
    assert export(run, "--sample", 3, "--output", out, "--force").exit_code == 0
    assert len(read_rows(out)) == 3
    res = export(run, "--sample", 3, "--output", tmp_path / "labels.tsv")
    assert res.exit_code == 2 and "must end in .csv" in res.output
    res = export(tmp_path, "--sample", 3, "--output", tmp_path / "x.csv")
    assert res.exit_code == 1 and "is not a run folder" in res.output and "Traceback" not in res.output


def test_round_trip_filled_labels_are_read_by_agreement(run, tmp_path):
    out = tmp_path / "labels.csv"
    assert export(run, "--sample", 10, "--output", out).exit_code == 0
    judge = {(s["conversation_id"], s["turn"]): s["score"] for s in _jsonl(run / "scores.jsonl")}
    rows = read_rows(out)
    for i, row in enumerate(rows):  # a labeller who agrees with the judge, skipping two rows
        row["score"] = "" if i in (3, 7) else str(int(judge[(row["conversation_id"], int(row["turn"]))]))
    with out.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=LABEL_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    report = agreement_between(run, out, resamples=50)
    assert report.n == 8 and report.exact == 1.0
    assert report.excluded == {"a": {"null": 0, "unpaired": 10}, "b": {"null": 2, "unpaired": 0}}
    # A label file whose replies are not the run's is refused (labels of another run).
    rows[0]["reply"] = "A different reply."
    rows[0]["score"] = "3"
    with out.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=LABEL_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    res = CliRunner().invoke(cli, ["agreement", str(run), str(out)])
    assert res.exit_code == 1 and "scored different replies" in res.output
