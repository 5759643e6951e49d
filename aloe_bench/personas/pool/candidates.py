"""Candidates: the generation prompt, splitting and cleaning an answer, the embedding filter,
and the leak reference (the ALOE eval personas no candidate may copy).

A candidate is accepted only if its highest cosine similarity to the pool (including
candidates accepted earlier in the same batch) is at most ``threshold`` and, with a leak
reference, at most ``leak_threshold`` to every reference text, so no training persona leaks
into the benchmark.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Callable, Literal, Sequence

import numpy as np

from aloe_bench.personas.pool.embeddings import EmbeddingMatrix
from aloe_bench.personas.pool.files import Kind

#: Prompt file per kind (``aloe_bench/prompts/NAME.txt``).
PROMPTS = {"profile": "persona_grow_profile.v1", "personality": "persona_grow_personality.v1"}

#: A candidate shorter than this many words is a heading or a fragment, not a persona.
MIN_WORDS = 8
#: A candidate longer than this many characters is a run-on answer, not one persona.
MAX_CHARS = 1500

_ITEM = re.compile(r"^\s*(?:\d{1,3}\s*[.):]|[-*•]|#{1,6})\s+")
_LABEL = re.compile(r"^\s*(?:\*\*)?\s*(?:profile|personality|persona|entry)\s*#?\s*\d*\s*[:.)-]+\s*(?:\*\*)?\s*",
                    re.IGNORECASE)
_FENCE = re.compile(r"^\s*```[\w-]*\s*$", re.MULTILINE)


def build_prompt(kind: Kind, examples: Sequence[str], count: int) -> str:
    """The generation prompt for one round (``aloe_bench/prompts/persona_grow_KIND.v1.txt``)."""
    from aloe_bench.prompts import render

    shown = "\n".join(f"- {e}" for e in examples)
    return render(PROMPTS[kind], examples=shown, count=str(count), shots=str(len(examples)))


def split_candidates(answer: str) -> list[str]:
    """Split a generator's answer into clean candidate texts.

    Accepts a numbered or bulleted list (items may wrap onto several lines), a JSON array of
    strings, or paragraphs separated by blank lines. Removes list markers, ``Profile 3:``
    labels, Markdown emphasis and surrounding quotes; drops headings, fragments shorter than
    :data:`MIN_WORDS` words and run-ons longer than :data:`MAX_CHARS`; keeps the first copy of
    exact repeats."""
    text = _FENCE.sub("", answer or "").strip()
    items: list[str] = []
    if text.startswith("["):
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = None
        if isinstance(value, list):
            items = [v if isinstance(v, str) else (v.get("text", "") if isinstance(v, dict) else "") for v in value]
    if not items:
        lines = text.splitlines()
        if any(_ITEM.match(line) for line in lines):
            current: list[str] | None = None
            for line in lines:
                if _ITEM.match(line):
                    if current:
                        items.append(" ".join(current))
                    current = [_ITEM.sub("", line, count=1)]
                elif line.strip() and current is not None:
                    current.append(line.strip())
                elif not line.strip() and current:
                    items.append(" ".join(current))
                    current = None
            if current:
                items.append(" ".join(current))
        else:
            items = [p for p in re.split(r"\n\s*\n", text)]
            if len(items) == 1:
                items = text.splitlines()
    out: list[str] = []
    seen: set[str] = set()
    for item in items:
        cleaned = clean_candidate(item)
        if cleaned and cleaned not in seen:
            seen.add(cleaned)
            out.append(cleaned)
    return out


def clean_candidate(item: str) -> str:
    """One candidate with markers, labels, emphasis and quotes removed; "" when it is no persona."""
    t = " ".join((item or "").split())
    t = _ITEM.sub("", t, count=1)
    t = _LABEL.sub("", t, count=1)
    t = t.replace("**", "").replace("__", "").strip()
    if len(t) >= 2 and t[0] in "\"'“‘" and t[-1] in "\"'”’":
        t = t[1:-1].strip()
    if t.endswith(":") or len(t.split()) < MIN_WORDS or len(t) > MAX_CHARS:
        return ""
    return t


@dataclass
class Decision:
    """The verdict on one candidate."""

    text: str
    accepted: bool
    reason: Literal["novel", "duplicate", "leak"]
    similarity: float
    nearest: str | None
    leak_similarity: float | None = None
    #: The new pool id of an accepted candidate.
    id: str | None = None


def filter_candidates(candidates: Sequence[str], vecs: np.ndarray, pool: EmbeddingMatrix, pool_ids: list[str],
                      threshold: float, *, leak: EmbeddingMatrix | None = None, leak_ids: Sequence[str] = (),
                      leak_threshold: float | None = None, make_id: Callable[[int], str] | None = None,
                      limit: int | None = None) -> list[Decision]:
    """Decide each candidate in order (``vecs``: their unit-norm embeddings, one row each).

    An accepted candidate joins ``pool`` and ``pool_ids`` (id ``make_id(k)`` for the k-th
    acceptance) at once, so later candidates of the same batch are compared with it too. With
    ``limit``, deciding stops after that many acceptances (the remaining candidates get no
    decision)."""
    leak_threshold = threshold if leak_threshold is None else leak_threshold
    make_id = make_id or (lambda k: f"candidate-{k + 1}")
    out: list[Decision] = []
    accepted = 0
    for text, vec in zip(candidates, vecs):
        if limit is not None and accepted >= limit:
            break
        sim, idx = pool.max_similarity(vec)
        nearest = pool_ids[idx] if idx >= 0 else None
        leak_sim = None
        if leak is not None and len(leak):
            leak_sim, lidx = leak.max_similarity(vec)
            if leak_sim > leak_threshold:
                out.append(Decision(text, False, "leak", sim, leak_ids[lidx] if lidx < len(leak_ids) else None,
                                    leak_sim))
                continue
        if sim > threshold:
            out.append(Decision(text, False, "duplicate", sim, nearest, leak_sim))
            continue
        new_id = make_id(accepted)
        pool.add(vec[None, :])
        pool_ids.append(new_id)
        accepted += 1
        out.append(Decision(text, True, "novel", sim, nearest, leak_sim, id=new_id))
    return out


def leak_reference(kind: Kind) -> tuple[list[str], list[str]]:
    """Texts and ids of the ALOE eval set for ``kind``: 20 eval profiles, or all 7 eval
    personalities (the benchmark uses the first 5; the other two are held out too)."""
    from aloe_bench.personas import official

    name = "profile_eval.jsonl" if kind == "profile" else "personality_eval.jsonl"
    texts = official.read_json_strings(official.data_file(name))
    return texts, [f"aloe-eval-{kind}-{i + 1:02d}" for i in range(len(texts))]
