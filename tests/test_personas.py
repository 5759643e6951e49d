"""Official ALOE persona sources, JSONL sources, pinned download."""

import hashlib
import json
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

from aloe_bench.errors import AloeBenchError, DataError
from aloe_bench.personas import load_personas, official
from aloe_bench.personas.jsonl import read_persona_file
from tests.helpers import run_cli


def _strings(path):
    dec, text, pos, out = json.JSONDecoder(), path.read_text(), 0, []
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            return out
        value, pos = dec.raw_decode(text, pos)
        out.append(value)


def test_aloe_eval_is_the_official_100(aloe_host, aloe_data_dir):
    personas = load_personas("aloe-eval", aloe_host)
    profiles = _strings(aloe_data_dir / "profile_eval.jsonl")
    traits = _strings(aloe_data_dir / "personality_eval.jsonl")
    assert len(profiles) == 20 and len(traits) == 7
    assert len(personas) == 100
    expected = [(p, t) for p in profiles for t in traits[:5]]  # profile-major
    assert [(p.profile, p.personality) for p in personas] == expected
    assert len({p.id for p in personas}) == 100
    assert personas[0].id == "aloe-eval-p01-t1" and personas[-1].id == "aloe-eval-p20-t5"


def test_profile_file_with_two_records_on_one_line(aloe_data_dir):
    lines = (aloe_data_dir / "profile.jsonl").read_text().splitlines()
    assert len(lines) == 330
    assert len(official.profiles()) == 331


def test_aloe_train_pairs_every_profile_ten_times(aloe_host):
    personas = load_personas("aloe-train", aloe_host)
    assert len(personas) == 3310
    by_profile = {}
    for p in personas:
        by_profile.setdefault(p.profile, set()).add(p.personality)
    assert len(by_profile) == 331
    assert all(len(v) == 10 for v in by_profile.values())
    again = load_personas("aloe-train", aloe_host)
    assert [p.id for p in again] == [p.id for p in personas]  # fixed seed


def test_raw_pools(aloe_host):
    assert len(load_personas("aloe-profiles", aloe_host)) == 331
    assert len(load_personas("aloe-personalities", aloe_host)) == 71


def test_jsonl_source_errors_name_file_and_line(tmp_path, aloe_host):
    good = tmp_path / "p.jsonl"
    good.write_text('{"id": "a", "profile": "P", "personality": "Q"}\n\n{"id": "b", "profile": "P2", "personality": "Q2"}\n')
    assert [p.id for p in load_personas(f"jsonl:{good}", aloe_host)] == ["a", "b"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "profile": "P", "personality": "Q"}\n{"id": "b", "profile": ""}\n')
    with pytest.raises(DataError, match=rf"{bad}:2: missing or empty field\(s\): profile, personality"):
        read_persona_file(bad)
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"id": "a",\n')
    with pytest.raises(DataError, match=r"broken.jsonl:1: not valid JSON"):
        read_persona_file(broken)
    dup = tmp_path / "dup.jsonl"
    dup.write_text('{"id": "a", "profile": "P", "personality": "Q"}\n' * 2)
    with pytest.raises(AloeBenchError, match="duplicate persona id 'a'"):
        load_personas(f"jsonl:{dup}", aloe_host)


def test_unknown_source_suggests(aloe_host):
    with pytest.raises(AloeBenchError, match="Did you mean: aloe-eval"):
        load_personas("aloe-evl", aloe_host)


@pytest.fixture
def data_server(aloe_data_dir, tmp_path):
    """Serves a copy of the ALOE files over real HTTP on 127.0.0.1 (one of them can be tampered)."""
    root = tmp_path / "srv"
    root.mkdir()
    for name in official.FILES:
        (root / name).write_bytes((aloe_data_dir / name).read_bytes())
    handler = partial(SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()


def test_download_verifies_sha256_and_caches(data_server, monkeypatch, tmp_path):
    root, url = data_server
    monkeypatch.delenv("ALOE_BENCH_DATA_DIR")
    monkeypatch.setenv("ALOE_BENCH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(official, "BASE_URL", url)
    path = official.data_file("profile_eval.jsonl")
    assert hashlib.sha256(path.read_bytes()).hexdigest() == official.FILES["profile_eval.jsonl"]
    assert path.is_relative_to(tmp_path / "cache")
    (root / "profile_eval.jsonl").unlink()  # cached now: no second download needed
    assert official.data_file("profile_eval.jsonl") == path
    (root / "personality_eval.jsonl").write_text('"tampered"\n')
    with pytest.raises(DataError, match="sha256"):
        official.data_file("personality_eval.jsonl")


def test_offline_without_data_dir_says_both_ways_out(monkeypatch, tmp_path):
    monkeypatch.delenv("ALOE_BENCH_DATA_DIR")
    monkeypatch.setenv("ALOE_BENCH_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(official, "BASE_URL", "http://127.0.0.1:9/nothing/")  # discard port: refused
    with pytest.raises(DataError) as info:
        official.data_file("profile_eval.jsonl")
    assert "ALOE_BENCH_DATA_DIR" in str(info.value) and "network" in str(info.value)


def test_data_dir_with_wrong_file(tmp_path, monkeypatch):
    (tmp_path / "profile_eval.jsonl").write_text('"x"')
    monkeypatch.setenv("ALOE_BENCH_DATA_DIR", str(tmp_path))
    with pytest.raises(DataError, match="pinned sha256"):
        official.data_file("profile_eval.jsonl")
    with pytest.raises(DataError, match="has no personality_eval.jsonl"):
        official.data_file("personality_eval.jsonl")


def test_cli_personas_show_json_is_identical_to_official_files(aloe_data_dir):
    proc = run_cli("personas", "show", "aloe-eval", "--json", env={"ALOE_BENCH_DATA_DIR": str(aloe_data_dir)},
                   check=True)
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    profiles = _strings(aloe_data_dir / "profile_eval.jsonl")
    traits = _strings(aloe_data_dir / "personality_eval.jsonl")[:5]
    assert [(r["profile"], r["personality"]) for r in rows] == [(p, t) for p in profiles for t in traits]
    assert set(rows[0]) == {"id", "profile", "personality"}


def test_cli_personas_show_table_and_limit(aloe_data_dir):
    proc = run_cli("personas", "show", "aloe-train", "--limit", "2", env={"ALOE_BENCH_DATA_DIR": str(aloe_data_dir),
                                                                           "COLUMNS": "200"}, check=True)
    assert "aloe-train: 3310 personas (first 2)" in proc.stdout
    assert "aloe-train-p001" in proc.stdout
