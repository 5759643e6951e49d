"""Run folder: append-only JSONL, torn lines, atomic writes."""

import json

import pytest

from aloe_bench.errors import DataError
from aloe_bench.records import SCHEMA_VERSION, Turn
from aloe_bench.store import JsonlWriter, RunStore, atomic_write_text, read_jsonl


def _turn(k):
    return Turn(conversation_id="c", persona_id="p", turn=k, user="u", reply="r")


def test_torn_last_line_is_ignored_reported_and_cut_before_append(tmp_path):
    path = tmp_path / "transcripts.jsonl"
    w = JsonlWriter(path)
    w.write(_turn(1))
    w.close()
    with path.open("a") as fh:
        fh.write('{"schema_version": 1, "conversation_id": "c", "tur')  # killed mid-write
    turns, torn = read_jsonl(path, Turn)
    assert [t.turn for t in turns] == [1] and torn == 1
    with pytest.warns(UserWarning, match="torn last line"):
        w = JsonlWriter(path)
    w.write(_turn(2))
    w.close()
    turns, torn = read_jsonl(path, Turn)
    assert [t.turn for t in turns] == [1, 2] and torn == 0


def test_corrupt_middle_line_is_an_error(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text(_turn(1).model_dump_json() + "\nnot json\n" + _turn(2).model_dump_json() + "\n")
    with pytest.raises(DataError, match=r"x.jsonl:2: corrupt record"):
        read_jsonl(path, Turn)


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "x.jsonl"
    rec = json.loads(_turn(1).model_dump_json())
    rec["schema_version"] = SCHEMA_VERSION + 1
    path.write_text(json.dumps(rec) + "\n")
    with pytest.raises(DataError, match="newer aloe-bench"):
        read_jsonl(path, Turn)


def test_atomic_write_leaves_no_temp_files(tmp_path):
    target = tmp_path / "summary.json"
    atomic_write_text(target, "one")
    atomic_write_text(target, "two")
    assert target.read_text() == "two"
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]


def test_duplicate_records_are_read_once(tmp_path):
    store = RunStore(tmp_path)
    w = store.transcript_writer()
    w.write(_turn(1))
    w.write(_turn(1).model_copy(update={"reply": "second"}))
    w.close()
    turns, _ = store.read_turns()
    assert len(turns) == 1 and turns[0].reply == "second"  # a turn tried again on resume replaces the first


def test_missing_summary_says_how_to_finish(tmp_path):
    with pytest.raises(DataError, match="--resume"):
        RunStore(tmp_path).read_summary()


def test_atomic_writes_follow_the_umask(tmp_path):
    import os

    old = os.umask(0o022)
    try:
        target = tmp_path / "summary.json"
        atomic_write_text(target, "{}")
        assert target.stat().st_mode & 0o777 == 0o644
    finally:
        os.umask(old)
