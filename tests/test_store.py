"""Run folder: append-only JSONL, torn lines, atomic writes."""

import json
import os

import pytest

from aloe_bench.errors import AloeBenchWarning, DataError, RunLockedError
from aloe_bench.records import SCHEMA_VERSION, Persona, Turn, TurnScore, Usage
from aloe_bench.evaluation.run_folder import JsonlWriter, RunStore, atomic_write_text, read_jsonl


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


def test_a_turn_tried_again_replaces_the_failed_one_silently(tmp_path, recwarn):
    store = RunStore(tmp_path)
    w = store.transcript_writer()
    w.write(_turn(1).model_copy(update={"reply": None, "status": "model_failed", "error": "boom"}))
    w.write(_turn(1).model_copy(update={"reply": "second"}))
    w.close()
    turns, _ = store.read_turns()
    assert len(turns) == 1 and turns[0].reply == "second"  # a turn tried again on resume replaces the first
    assert not [w for w in recwarn if issubclass(w.category, AloeBenchWarning)]


def test_two_successful_records_of_one_turn_are_reported(tmp_path):
    store = RunStore(tmp_path)
    w = store.transcript_writer()
    w.write(_turn(1))
    w.write(_turn(1).model_copy(update={"reply": "second"}))
    w.close()
    with pytest.warns(AloeBenchWarning, match="1 record.s. stored twice"):
        turns, _ = store.read_turns()
    assert len(turns) == 1 and turns[0].reply == "second"


def test_scores_last_record_wins_so_a_retried_judge_call_counts(tmp_path):
    store = RunStore(tmp_path)
    w = store.score_writer()
    base = dict(conversation_id="c", persona_id="p", turn=1, judge="j")
    w.write(TurnScore(**base, score=None, status="failed", error="HTTP 500"))
    w.write(TurnScore(**base, score=4.0))
    w.close()
    scores, _ = store.read_scores()
    assert [(s.score, s.status) for s in scores] == [(4.0, "ok")]


def test_legacy_null_score_reads_as_unreadable():
    rec = TurnScore.model_validate({"conversation_id": "c", "persona_id": "p", "turn": 1, "judge": "j",
                                    "score": None, "raw": "no idea"})
    assert rec.status == "unreadable"


def test_usage_sums_every_record_including_superseded_ones(tmp_path):
    store = RunStore(tmp_path)
    w = store.transcript_writer()
    w.write(_turn(1).model_copy(update={"status": "model_failed", "reply": None,
                                        "usage": {"user": Usage(calls=1, cost=0.5), "model": Usage(calls=3)}}))
    w.write(_turn(1).model_copy(update={"usage": {"user": Usage(calls=1, cached_calls=1),
                                                  "model": Usage(calls=1, prompt_tokens=7)}}))
    w.close()
    w = store.score_writer()
    w.write(TurnScore(conversation_id="c", persona_id="p", turn=1, judge="j", score=3.0,
                      usage=Usage(calls=2, completion_tokens=5, cost=0.25)))
    w.close()
    usage = store.usage()
    assert usage["user"].calls == 2 and usage["user"].cached_calls == 1 and usage["user"].cost == 0.5
    assert usage["model"].calls == 4 and usage["model"].prompt_tokens == 7
    assert usage["judge"].calls == 2 and usage["judge"].cost == 0.25


def test_lock_refuses_a_second_writer_and_names_the_holder(tmp_path):
    store = RunStore(tmp_path / "run")
    with store.lock():
        with pytest.raises(RunLockedError, match=rf"in use by process {os.getpid()} on .* since "):
            RunStore(tmp_path / "run").lock().acquire()
    with store.lock():  # released: taken again
        pass
    assert not (tmp_path / "run" / ".lock.owner").exists()


def test_lock_removes_temp_files_left_by_a_killed_atomic_write(tmp_path):
    store = RunStore(tmp_path)
    (tmp_path / ".summary.json.x1y2.tmp").write_text("{")
    (tmp_path / "judgements" / "j").mkdir(parents=True)
    (tmp_path / "judgements" / "j" / ".summary.json.a.tmp").write_text("{")
    with RunStore(tmp_path, scores_name="j").lock():
        pass
    assert not list(tmp_path.rglob("*.tmp"))
    assert store.dir.is_dir()


def test_personas_are_stored_in_the_run_folder(tmp_path):
    store = RunStore(tmp_path)
    assert store.read_personas() is None
    people = [Persona(id="a", profile="A cook.", personality="Calm."), Persona(id="b", profile="Ü", personality="x")]
    store.write_personas(people)
    assert store.read_personas() == people


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
