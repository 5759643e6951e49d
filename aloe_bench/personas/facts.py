"""Golden facts: a persona's profile as a list of short atomic facts, one per line.

RLPA's profile reward and ``evaluate --profile-probe`` count how many golden facts an inferred
profile covers (:mod:`aloe_bench.profile`). The facts of a profile come from, in this order:

1. a **facts file** given for the run (``aloe-bench personas facts`` writes one with any model);
2. the **curated** files shipped with the project (``personas/facts/``: the 20 ALOE eval
   profiles, written and checked for this project);
3. the **sentence-split fallback**: one fact per sentence of the profile.

Facts are keyed by the profile text (:func:`facts_key`), not by persona id: the same profile
appears with several personalities, and ids differ between sources. A facts file is JSONL, one
object per profile::

    {"schema_version": 1, "profile_sha256": "9f2c...", "facts": ["Is 33 years old", "Runs marathons"]}

Other keys are allowed and kept for people (``profile_index``, ``persona_id``, ``extractor``,
``prompt_sha256``). :meth:`GoldenFacts.describe` says which sources a run used, for run.json.

Pure Python: nothing here imports pydantic or a model library.
"""

from __future__ import annotations

import hashlib
import json
import re
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from aloe_bench.errors import AloeBenchWarning, ConfigError, DataError
from aloe_bench.personas import shipped_file

if TYPE_CHECKING:
    from aloe_bench.records import Persona

#: Version of the facts-file line format (``schema_version`` of each line).
FACTS_SCHEMA_VERSION = 1
#: Version of the lookup that :meth:`GoldenFacts.describe` reports (file > curated > sentence split).
GOLDEN_FACTS_VERSION = 1
#: The origins a persona's facts can have, in lookup order.
ORIGINS = ("file", "curated", "sentence-split")
#: The project's folder of curated facts files (package data: ``aloe_bench/personas/data/facts/``).
CURATED_DIR = shipped_file("facts")
#: The curated facts files shipped with the project, in lookup order (a later file wins for a
#: profile two files cover). Files missing from an installation are skipped.
CURATED: tuple[Path, ...] = (CURATED_DIR / "aloe-eval.jsonl",)

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
# A sentence ends at . ! or ? (optionally followed by a closing quote or bracket) before whitespace
# and a capital letter, digit or opening quote; line breaks always end one.
_SENTENCE_END = re.compile(r"(?:(?<=[.!?])|(?<=[.!?][\"'\u201d\u2019)\]]))\s+(?=[A-Z0-9\"'\u201c\u2018(])|\n+")
# Lines of a model's answer that are no fact: a heading ("Facts:", "Here are the facts:").
_HEADING = re.compile(r":\s*$")
_EMPHASIS = re.compile(r"^[*_`#>\s]+|[*_`\s]+$")


def facts_key(profile: str) -> str:
    """The key of a profile's facts: sha256 hex of the profile text, surrounding whitespace
    stripped (so ``"He is 30.\\n"`` and ``"He is 30."`` share their facts)."""
    return hashlib.sha256(profile.strip().encode("utf-8")).hexdigest()


def sentence_facts(profile: str) -> list[str]:
    """The fallback golden facts: one per sentence of ``profile`` (stripped, empty ones dropped).

    ``"He is 30. He runs."`` -> ``["He is 30.", "He runs."]``; an empty profile has none."""
    return [s.strip() for s in _SENTENCE_END.split(profile.strip()) if s and s.strip()]


def parse_facts_answer(text: str) -> list[str]:
    """The facts of an extractor model's answer (``aloe-bench personas facts``): one per line as
    :func:`aloe_bench.profile.profile_lines` reads them, inside ``<profile>...</profile>`` when
    the answer has such a section; Markdown emphasis trimmed, headings (a line ending in ``:``)
    and repeated facts dropped. An empty list means the answer has no usable line."""
    from aloe_bench.profile import PROFILE_TAG, profile_lines

    section = PROFILE_TAG.search(text or "")
    out: list[str] = []
    seen: set[str] = set()
    for line in profile_lines(section.group(1) if section else (text or "")):
        fact = _EMPHASIS.sub("", line).strip()
        if not fact or _HEADING.search(fact) or fact.lower() in seen:
            continue
        seen.add(fact.lower())
        out.append(fact)
    return out


def _sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _row_facts(obj: Any, where: str) -> tuple[str, list[str]]:
    """(key, facts) of one decoded line; a :class:`DataError` naming ``where`` when it is bad."""
    if not isinstance(obj, dict):
        raise DataError(f"{where}: expected an object with schema_version, profile_sha256 and facts.")
    version = obj.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise DataError(f"{where}: schema_version must be a positive integer (got {version!r}).")
    if version > FACTS_SCHEMA_VERSION:
        raise DataError(f"{where} was written by a newer aloe-bench (facts schema {version}).",
                        "Upgrade aloe-bench to read it.")
    key = obj.get("profile_sha256")
    if not isinstance(key, str) or not _HEX64.match(key):
        raise DataError(f"{where}: profile_sha256 must be 64 lowercase hex digits (the sha256 of the "
                        "stripped profile text).")
    facts = obj.get("facts")
    if not isinstance(facts, list) or not facts or not all(isinstance(f, str) and f.strip() for f in facts):
        raise DataError(f"{where}: facts must be a non-empty list of non-empty strings.")
    return key, [f.strip() for f in facts]


def _read_rows(path: Path) -> list[tuple[str, list[str], dict[str, Any]]]:
    """(key, facts, the whole line) of every line of a facts file, in file order (duplicates kept)."""
    lines = path.read_bytes().split(b"\n")
    out = []
    for i, raw in enumerate(lines):
        if not raw.strip():
            continue
        where = f"{path}:{i + 1}"
        try:
            obj = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            if i == len(lines) - 1:  # no newline after it: the writer was killed mid-line
                warnings.warn(f"{path}: ignored a torn last line (a write was interrupted).", AloeBenchWarning,
                              stacklevel=3)
                continue
            what = "not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else f"not valid JSON ({exc.msg})"
            raise DataError(f"{where}: {what}.", "Fix or delete that line.") from None
        key, facts = _row_facts(obj, where)
        out.append((key, facts, obj))
    return out


def read_facts_file(path: str | Path) -> dict[str, list[str]]:
    """Profile key (:func:`facts_key`) -> facts, from a facts JSONL file.

    A torn last line (no trailing newline and not valid JSON: a process killed mid-write) is
    skipped with a warning; a bad line anywhere else is a :class:`DataError` naming the file and
    line. A profile listed twice keeps its last line (a re-extraction appended later wins). A
    file that does not exist is a :class:`ConfigError`."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise ConfigError(f"Facts file {path} does not exist.",
                          "Pass a file written by `aloe-bench personas facts`, or leave it out to use the "
                          "curated facts and the sentence-split fallback.")
    out: dict[str, list[str]] = {}
    for key, facts, _ in _read_rows(path):
        out.pop(key, None)  # last wins, and sits where the last line put it
        out[key] = facts
    return out


def _curated_sources() -> list[tuple[Path, dict[str, list[str]]]]:
    return [(p, read_facts_file(p)) for p in CURATED if p.is_file()]


class GoldenFacts:
    """The golden facts of a set of personas, looked up per profile: the given facts file, then
    the curated files, then the sentence split. Build it with :func:`golden_facts`.

    :meth:`facts` and :meth:`origin` answer for any persona (also one outside the set it was
    built for); :meth:`describe` counts origins over the personas it was built for."""

    def __init__(self, personas: Sequence[Persona], file: Path | None, file_facts: dict[str, list[str]],
                 curated: list[tuple[Path, dict[str, list[str]]]]):
        self.file = file
        self.file_sha256 = _sha256_file(file) if file is not None else None
        self._file = file_facts
        self._curated_files = [(p.name, _sha256_file(p)) for p, _ in curated]
        self._curated: dict[str, list[str]] = {}
        for _, facts in curated:
            self._curated.update(facts)
        self.origins = {o: 0 for o in ORIGINS}
        for p in personas:
            self.origins[self.lookup(p.profile)[1]] += 1

    def lookup(self, profile: str) -> tuple[list[str], str]:
        """(facts, origin) of a profile text; origin is one of :data:`ORIGINS`."""
        key = facts_key(profile)
        if key in self._file:
            return list(self._file[key]), "file"
        if key in self._curated:
            return list(self._curated[key]), "curated"
        return sentence_facts(profile), "sentence-split"

    def facts(self, persona: Persona) -> list[str]:
        """The persona's golden facts, one per item (empty only for an empty profile)."""
        return self.lookup(persona.profile)[0]

    def origin(self, persona: Persona) -> str:
        """Where the persona's facts come from: ``file``, ``curated`` or ``sentence-split``."""
        return self.lookup(persona.profile)[1]

    def describe(self) -> dict[str, Any]:
        """What run.json records: the facts file (path and sha256, or None), the curated files
        (name and sha256), how many personas got their facts from each origin, the lookup version."""
        return {"version": GOLDEN_FACTS_VERSION,
                "file": str(self.file) if self.file is not None else None,
                "file_sha256": self.file_sha256,
                "curated": [{"name": n, "sha256": s} for n, s in self._curated_files],
                "origins": dict(self.origins)}


def golden_facts(personas: Sequence[Persona], facts_file: str | Path | None = None) -> GoldenFacts:
    """The golden facts of ``personas``: from ``facts_file`` (a file written by ``aloe-bench
    personas facts``) where it covers a profile, else from the curated files (:data:`CURATED`),
    else one fact per sentence. A ``facts_file`` that does not exist is a :class:`ConfigError`;
    one that covers none of ``personas`` gives a warning (it was probably made for another source)."""
    path = Path(facts_file).expanduser() if facts_file is not None else None
    file_facts = read_facts_file(path) if path is not None else {}
    gf = GoldenFacts(personas, path, file_facts, _curated_sources())
    if path is not None and personas and gf.origins["file"] == 0:
        warnings.warn(f"facts file {path} covers none of the {len(personas)} personas' profiles; their facts come "
                      "from the curated files or the sentence split.", AloeBenchWarning, stacklevel=2)
    return gf


# -- extraction: `aloe-bench personas facts` ------------------------------------------------------

#: The versioned prompt of :class:`FactsExtractor` (``aloe_bench/prompts/facts_extract.v1.txt``).
FACTS_PROMPT = "facts_extract.v1"
#: Text every facts-extraction prompt contains (tests and scripted servers recognise it by this).
FACTS_MARKER = "into its atomic facts"


def prompt_sha256() -> str:
    """Full sha256 of the extraction prompt's text (recorded on every extracted line)."""
    from aloe_bench.prompts import load_prompt

    return hashlib.sha256(load_prompt(FACTS_PROMPT).encode("utf-8")).hexdigest()


class FactsExtractor:
    """Asks a chat backend for a profile's atomic facts (the prompt ``facts_extract.v1``, one
    user message) and reads the answer with :func:`parse_facts_answer`. An answer without a
    usable line is re-asked (another seed) up to ``max_retries`` times, then returned as an error.

    Greedy decoding (temperature 0, seed 0) by default, so a re-run asks the same call and the
    call cache answers it."""

    name = "facts-extract"

    def __init__(self, backend, *, params=None, max_retries: int = 2):
        from aloe_bench.components import GenerationParams

        self.backend = backend
        self.params = params or GenerationParams(max_tokens=400, temperature=0.0, seed=0)
        #: Re-asks after a failed call or an answer without a usable line.
        self.max_retries = max(0, max_retries)

    def build_messages(self, profile: str) -> list:
        """The backend's chat for one profile: one user message holding the whole prompt."""
        from aloe_bench.prompts import render
        from aloe_bench.records import Message

        return [Message(role="user", content=render(FACTS_PROMPT, profile=profile.strip()))]

    async def extract(self, profiles: Sequence[str]) -> list:
        """One :class:`~aloe_bench.components.Reply` per profile, in order: its ``text`` holds the
        facts one per line (read with :func:`parse_facts_answer`), or ``error`` says why there
        are none. Each reply adds up the calls and usage of its attempts."""
        from aloe_bench.protocols.asking import generate_nonempty

        batch = [self.build_messages(p) for p in profiles]
        return await generate_nonempty(self.backend, batch, self.params, self.max_retries,
                                        lambda text: "\n".join(parse_facts_answer(text)),
                                        "the extractor's answer has no fact line")

    def identity(self) -> dict[str, Any]:
        """What the output lines record about the extractor: its spec and backend identity
        (secrets redacted), the prompt and its sha256."""
        from aloe_bench.secrets import redact

        return {"spec": self.backend.spec, "identity": redact(self.backend.identity())}

    def describe(self) -> dict[str, Any]:
        """Kind, options and prompt hashes (the shape run.json uses for protocols)."""
        from aloe_bench.prompts import prompt_hash

        return {"kind": self.name, "options": {"params": self.params.model_dump(mode="json"),
                                               "max_retries": self.max_retries},
                "prompt_hashes": {FACTS_PROMPT: prompt_hash(FACTS_PROMPT)}}


class FactsResult:
    """What an extraction did: profiles written now, skipped (already in the file), failed (no
    line written: a re-run with ``resume`` asks again), the first error, and the usage."""

    def __init__(self, total: int, skipped: int, empty: int):
        #: Distinct non-empty profiles of the source (after ``limit``).
        self.total = total
        #: Profiles whose facts were already in the output file.
        self.skipped = skipped
        #: Personas without profile text (nothing to extract).
        self.empty = empty
        #: Profiles extracted and written by this run.
        self.done = 0
        #: Profiles whose extraction failed (not written).
        self.failed = 0
        #: The first failure's error text, or None.
        self.first_error: str | None = None
        from aloe_bench.records import Usage

        #: Calls, cache hits, tokens and cost of this run's extraction calls.
        self.usage = Usage()

    @property
    def complete(self) -> bool:
        """True when every profile has its facts in the file."""
        return self.failed == 0 and self.skipped + self.done == self.total


class FactsExtraction:
    """Extracts the facts of every distinct profile of ``personas`` into the facts file
    ``output``, one appended and fsynced line per profile as soon as it is answered.

    ``output`` must be empty or missing unless ``resume``: then the profiles it holds are
    skipped, and it must have been written by the same extractor spec and prompt (mixing two
    extractors in one file is refused). ``limit`` keeps the first N distinct profiles. A failed
    extraction writes nothing (never empty facts); :attr:`FactsResult.failed` counts it."""

    def __init__(self, personas: Sequence[Persona], output: str | Path, extractor: FactsExtractor, *,
                 limit: int | None = None, resume: bool = False):
        self.output = Path(output).expanduser()
        self.extractor = extractor
        first: dict[str, tuple[str, str]] = {}  # key -> (profile, id of its first persona)
        empty = 0
        for p in personas:
            if not p.profile.strip():
                empty += 1
                continue
            first.setdefault(facts_key(p.profile), (p.profile, p.id))
        if not first:
            raise DataError("The persona source has no profile texts to extract facts from.",
                            "Pass a source whose personas have profiles (aloe-train, aloe-profiles, jsonl:FILE).")
        items = list(first.items())[:limit] if limit else list(first.items())
        done = self._done_keys(resume)
        self.todo = [(k, prof, pid) for k, (prof, pid) in items if k not in done]
        self.result = FactsResult(total=len(items), skipped=len(items) - len(self.todo), empty=empty)

    def _done_keys(self, resume: bool) -> set[str]:
        if not self.output.is_file() or not self.output.read_bytes().strip():
            return set()
        rows = _read_rows(self.output)
        if not resume:
            raise ConfigError(f"{self.output} is not empty (facts for {len({k for k, _, _ in rows})} profiles).",
                              "Pass --resume to extract only the profiles it lacks, or choose another --output.")
        spec, prompt = self.extractor.identity()["spec"], prompt_sha256()
        for key, _, obj in rows:
            ext = obj.get("extractor")
            theirs = ext.get("spec") if isinstance(ext, dict) else None
            if theirs != spec or obj.get("prompt_sha256") != prompt:
                what = (f"extractor {theirs!r}, not {spec!r}" if theirs != spec
                        else f"another prompt (sha256 {str(obj.get('prompt_sha256'))[:12]}...)")
                raise ConfigError(f"{self.output} holds facts written by {what}; one file holds one extractor's facts.",
                                  "Resume with the same --extractor, or write to another --output.")
        return {k for k, _, _ in rows}

    def record(self, key: str, persona_id: str, facts: list[str], attempts: int) -> dict[str, Any]:
        """The output line of one profile."""
        return {"schema_version": FACTS_SCHEMA_VERSION, "profile_sha256": key, "facts": facts,
                "persona_id": persona_id, "extractor": self.extractor.identity(), "prompt": FACTS_PROMPT,
                "prompt_sha256": prompt_sha256(), "attempts": attempts}

    async def run(self, on_progress=None) -> FactsResult:
        """Extract every profile still to do; ``on_progress(result)`` is called after each one.

        A backend that gains from whole batches (a local model) gets the profiles in batches of
        its ``concurrency``; an API backend gets one request per profile, ``concurrency`` in
        flight, each written as soon as it is answered."""
        import asyncio

        from aloe_bench.fileio import append_lines, repair_torn_tail

        if repair_torn_tail(self.output, keep_complete=True):
            warnings.warn(f"cut a torn last line off {self.output} (an extraction was killed mid-write).",
                          AloeBenchWarning, stacklevel=2)
        self.output.parent.mkdir(parents=True, exist_ok=True)
        res = self.result

        def take(items, replies) -> None:
            lines = []
            for (key, _, pid), reply in zip(items, replies):
                res.usage.add(reply.usage())
                if not reply.ok:
                    res.failed += 1
                    res.first_error = res.first_error or reply.error
                    continue
                lines.append(json.dumps(self.record(key, pid, reply.text.splitlines(), reply.attempts),
                                        ensure_ascii=False))
                res.done += 1
            append_lines(self.output, lines)
            if on_progress is not None:
                on_progress(res)

        backend = self.extractor.backend
        if getattr(backend, "prefers_batches", False):
            size = max(1, getattr(backend, "concurrency", 8))
            for i in range(0, len(self.todo), size):
                chunk = self.todo[i:i + size]
                take(chunk, await self.extractor.extract([prof for _, prof, _ in chunk]))
        else:
            async def one(item):
                return item, (await self.extractor.extract([item[1]]))[0]

            tasks = [asyncio.ensure_future(one(item)) for item in self.todo]
            try:
                for fut in asyncio.as_completed(tasks):
                    item, reply = await fut
                    take([item], [reply])
            finally:
                for t in tasks:
                    t.cancel()
        return res
