"""Benchmark: filtering persona candidates against a growing pool.

Compares two ways to decide whether each of N candidates is novel (highest cosine similarity to
the pool <= threshold), with the real all-MiniLM-L6-v2 embedder:

- incremental (aloe-bench): every candidate is encoded once (in batches of ``--batch``, as in
  growth rounds) and compared with one matrix-vector product against the normalised pool
  matrix, which grows in place (:func:`aloe_bench.personas.pool.filter_candidates`);
- re-encode (the published ALOE script): for every candidate, the whole pool plus the
  candidate is encoded again, then compared. Its cost grows with the pool, so it is timed on
  ``--reference-limit`` candidates spread evenly over the run (each against the pool as it
  stood then) and extrapolated to all N with a least-squares fit of time per candidate against
  pool size (said so in the output).

Both make the same decisions; the script checks that on every timed candidate.

Candidates are synthetic short profiles built from word lists (seeded), so some are near
duplicates and most are novel. Run::

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/persona_dedup.py [--candidates 3000] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import time

import numpy as np

AGES = list(range(16, 90))
PRONOUNS = ["He is", "She is", "They are"]
JOBS = ["baker", "nurse", "welder", "violin teacher", "bus driver", "tax lawyer", "beekeeper", "game designer",
        "midwife", "ferry captain", "librarian", "roofer", "pharmacist", "tour guide", "forester", "radio host",
        "plumber", "archivist", "fisherman", "florist", "dentist", "jockey", "translator", "locksmith",
        "physics student", "retired miner", "stay-at-home parent", "sommelier", "crane operator", "zookeeper"]
PLACES = ["Lisbon", "Osaka", "Nairobi", "Quito", "Tromsø", "Lagos", "Hanoi", "Glasgow", "Perth", "Tbilisi",
          "Cusco", "Winnipeg", "Dakar", "Busan", "Palermo", "Tucson", "Riga", "Chennai", "Valparaíso", "Cork"]
HOBBIES = ["keeps racing pigeons", "builds model railways", "plays the accordion", "climbs volcanoes",
           "collects vinyl records", "brews kombucha", "restores old motorbikes", "sings in a choir",
           "paints watercolour birds", "runs ultramarathons", "plays chess online", "grows orchids",
           "dances tango", "knits sweaters for shelter dogs", "writes crime novels", "fixes vintage radios",
           "breeds koi", "surfs at dawn", "coaches youth football", "bakes sourdough", "learns Mandarin",
           "goes ice fishing", "carves wooden spoons", "volunteers at a food bank", "photographs street art"]
FAMILY = ["lives alone with a parrot", "has four grandchildren", "shares a flat with two cousins",
          "is raising twins alone", "cares for an elderly father", "recently married a chef",
          "lives with a greyhound and two cats", "has a teenage son", "is engaged to a pilot",
          "lives on a houseboat"]


def synthetic_candidates(n: int, seed: int) -> list[str]:
    """``n`` short profiles; a few are re-draws of the same combination (near duplicates)."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        h1, h2 = rng.sample(HOBBIES, 2)
        out.append(f"{rng.choice(PRONOUNS)} a {rng.choice(AGES)}-year-old {rng.choice(JOBS)} in "
                   f"{rng.choice(PLACES)} who {h1}, {h2}, and {rng.choice(FAMILY)}.")
    return out


def run_incremental(embedder, seeds: list[str], cands: list[str], threshold: float, batch: int):
    """Total seconds, seconds spent comparing (not encoding), accepted flags, pool size before each candidate."""
    from aloe_bench.personas.pool import EmbeddingMatrix, encode, filter_candidates

    t0 = time.perf_counter()
    seed_vecs = encode(embedder, seeds)
    pool = EmbeddingMatrix(seed_vecs.shape[1], seed_vecs)
    ids = [f"s{i}" for i in range(len(seeds))]
    accepted: list[bool] = []
    sizes: list[int] = []
    filter_s = 0.0
    for start in range(0, len(cands), batch):
        chunk = cands[start:start + batch]
        vecs = encode(embedder, chunk)
        before = len(pool)
        t1 = time.perf_counter()
        decisions = filter_candidates(chunk, vecs, pool, ids, threshold)
        filter_s += time.perf_counter() - t1
        for d in decisions:
            sizes.append(before)
            accepted.append(d.accepted)
            before += d.accepted
    return time.perf_counter() - t0, filter_s, accepted, sizes


def run_reencode(embedder, seeds: list[str], cands: list[str], accepted: list[bool], threshold: float,
                 samples: int):
    """The published approach at ``samples`` candidates spread evenly over the run, each against
    the pool as it stood at that moment (seeds + the candidates accepted before it): seconds per
    candidate, pool size, and whether its decision equals the incremental one."""
    picks = sorted(set(np.linspace(0, len(cands) - 1, samples).round().astype(int).tolist()))
    times, sizes, agree = [], [], []
    for i in picks:
        pool = seeds + [c for c, ok in zip(cands[:i], accepted[:i]) if ok]
        t0 = time.perf_counter()
        vecs = embedder.encode(pool + [cands[i]])
        ok = float((vecs[:-1] @ vecs[-1]).max()) <= threshold
        times.append(time.perf_counter() - t0)
        sizes.append(len(pool))
        agree.append(ok == accepted[i])
    return times, sizes, all(agree)


def main(argv: list[str] | None = None) -> dict:
    """Run the benchmark and print (and optionally save) the figures."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--candidates", type=int, default=3000)
    ap.add_argument("--threshold", type=float, default=0.6)
    ap.add_argument("--batch", type=int, default=20)
    ap.add_argument("--reference-limit", type=int, default=60,
                    help="Candidates (spread over the run) timed with the re-encoding approach; the rest is "
                         "extrapolated.")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", help="Write the figures to this JSON file.")
    args = ap.parse_args(argv)

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from aloe_bench.personas.pool import project_seeds, read_entries, resolve_embedder
    from aloe_bench.plugins import PluginHost

    embedder = resolve_embedder("minilm", PluginHost())
    seeds = [e.text for e in read_entries(project_seeds("profile"))]
    cands = synthetic_candidates(args.candidates, args.seed)
    embedder.encode(cands[:32])  # warm-up: first-call overheads are not what is measured

    inc_s, inc_filter_s, inc_acc, inc_sizes = run_incremental(embedder, seeds, cands, args.threshold, args.batch)
    limit = min(args.reference_limit, len(cands))
    ref_times, ref_sizes, same = run_reencode(embedder, seeds, cands, inc_acc, args.threshold, limit)

    # time per candidate of the re-encoding approach ~ a + b * pool size; sum over all N sizes
    b, a = np.polyfit(np.array(ref_sizes, float), np.array(ref_times, float), 1)
    est_total = float(sum(a + b * s for s in inc_sizes))
    result = {
        "candidates": len(cands), "threshold": args.threshold, "batch": args.batch,
        "seed_pool": len(seeds), "final_pool": len(seeds) + sum(inc_acc), "accepted": sum(inc_acc),
        "incremental_s": round(inc_s, 2), "incremental_ms_per_candidate": round(1000 * inc_s / len(cands), 3),
        "incremental_compare_s": round(inc_filter_s, 3),
        "reencode_measured_candidates": limit, "reencode_measured_s": round(sum(ref_times), 2),
        "reencode_fit_ms": {"per_candidate": round(1000 * a, 2), "per_pool_entry": round(1000 * b, 3)},
        "reencode_extrapolated_s": round(est_total, 1), "speedup": round(est_total / inc_s, 1),
        "same_decisions_on_measured_candidates": same,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch CPU", "load_avg_1m": round(os.getloadavg()[0], 2),
    }
    print(f"{len(cands)} candidates, threshold {args.threshold}: pool {len(seeds)} -> {result['final_pool']} "
          f"({result['accepted']} accepted)")
    print(f"incremental matrix:   {inc_s:8.2f} s  ({result['incremental_ms_per_candidate']} ms/candidate; "
          f"{inc_filter_s:.2f} s of it comparing, the rest encoding)")
    print(f"re-encode per check:  {sum(ref_times):8.2f} s measured on {limit} candidates spread over the run; "
          f"~{est_total:.0f} s extrapolated to all {len(cands)} "
          f"({1000 * a:.1f} ms + {1000 * b:.2f} ms x pool size per candidate)")
    print(f"speed-up: ~{result['speedup']}x; same decisions on the measured candidates: {same}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(result, fh, indent=2)
    if not same:
        raise SystemExit("The two approaches disagree: this is a bug.")
    return result


if __name__ == "__main__":
    main()
