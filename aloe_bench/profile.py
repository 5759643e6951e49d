"""Inferred user profiles: reading them out of a model's text and scoring them against golden facts.

RLPA (../shared/METHOD.md §2) has a model write what it has learned about the user, one fact per
line, inside ``<profile>...</profile>``; an RLPA policy also writes its reply inside
``<response>...</response>``. The profile is scored against the persona's golden facts: a coverage
judge counts how many golden facts it covers, and :func:`profile_f1` turns that count into
precision, recall and F1.

Everything here is pure text and arithmetic (no model call), shared by the rewards, the
``--profile-probe`` of ``aloe-bench evaluate``, ``--reply-format rlpa`` and the RLPA trainer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: ``<profile>...</profile>`` (case-insensitive, across lines).
PROFILE_TAG = re.compile(r"<profile>(.*?)</profile>", re.I | re.S)
#: ``<response>...</response>`` (case-insensitive, across lines).
RESPONSE_TAG = re.compile(r"<response>(.*?)</response>", re.I | re.S)
#: A list marker at the start of a line: ``-``, ``*``, ``•``, ``1.``, ``2)``.
_BULLET = re.compile(r"^\s*(?:[-*\u2022\u2023\u25e6]+|\d{1,3}[.)])\s*")


def profile_lines(text: str) -> list[str]:
    """The facts of a profile section, one per non-empty line, list markers and surrounding
    whitespace removed (``"- Is a nurse"`` -> ``"Is a nurse"``)."""
    out = []
    for line in text.splitlines():
        fact = _BULLET.sub("", line, count=1).strip()
        if fact:
            out.append(fact)
    return out


@dataclass(frozen=True)
class TaggedOutput:
    """A model output read for ``<profile>`` and ``<response>`` sections.

    ``profile`` is None when the output has no (closed) profile section, ``response`` None when it
    has no response section; ``malformed`` says what is wrong (None when nothing is)."""

    #: The profile's facts (possibly empty: an empty section), or None without a section.
    profile: list[str] | None
    #: The response text (stripped), or None without a section.
    response: str | None
    #: What is wrong with the output, for records and rewards; None when well formed.
    malformed: str | None = None


def parse_profile(text: str) -> TaggedOutput:
    """The profile section of a probe answer (``<profile>`` one fact per line ``</profile>``).

    Well formed: exactly one closed profile section (it may be empty: the model says it knows
    nothing yet). Otherwise ``profile`` is None and ``malformed`` says why."""
    sections = PROFILE_TAG.findall(text or "")
    if not sections:
        return TaggedOutput(None, None, "no <profile>...</profile> section")
    if len(sections) > 1:
        return TaggedOutput(None, None, f"{len(sections)} <profile> sections")
    return TaggedOutput(profile_lines(sections[0]), None, None)


def parse_rlpa_output(text: str) -> TaggedOutput:
    """An RLPA policy's output: ``<profile>`` one fact per line ``</profile>`` then
    ``<response>...</response>``, each exactly once, in that order, with a non-empty response.

    A malformed output keeps what could be read (for inspection) and names the problem in
    ``malformed``; RLPA gives it reward 0."""
    text = text or ""
    profiles = list(PROFILE_TAG.finditer(text))
    responses = list(RESPONSE_TAG.finditer(text))
    profile = profile_lines(profiles[0].group(1)) if len(profiles) == 1 else None
    response = responses[0].group(1).strip() if len(responses) == 1 else None
    problem = None
    if len(profiles) != 1:
        problem = "no <profile>...</profile> section" if not profiles else f"{len(profiles)} <profile> sections"
    elif len(responses) != 1:
        problem = "no <response>...</response> section" if not responses else f"{len(responses)} <response> sections"
    elif responses[0].start() < profiles[0].end():
        problem = "<response> comes before <profile>"
    elif not response:
        problem = "empty <response>"
    return TaggedOutput(profile, response, problem)


@dataclass(frozen=True)
class ProfileScore:
    """How well an inferred profile covers the golden facts (RLPA's profile reward)."""

    #: Golden facts covered, after clamping to min(inferred lines, golden lines).
    covered: int
    #: Lines of the inferred profile.
    inferred: int
    #: Golden facts of the persona.
    golden: int
    #: covered / inferred (0 for an empty profile).
    precision: float
    #: covered / golden (0 without golden facts).
    recall: float
    #: Harmonic mean of precision and recall; 0 when nothing is covered.
    f1: float


def profile_f1(covered: int, inferred: int, golden: int) -> ProfileScore:
    """RLPA's profile reward from a coverage judge's count.

    ``covered`` (the judge's answer) is clamped to [0, min(inferred, golden)]: a judge cannot
    cover more facts than the profile states or the persona has. precision = covered / inferred,
    recall = covered / golden, F1 their harmonic mean; all 0 when nothing is covered, the
    profile is empty or there are no golden facts."""
    if inferred < 0 or golden < 0:
        raise ValueError(f"profile_f1: negative line counts ({inferred}, {golden}).")
    covered = max(0, min(int(covered), inferred, golden))
    if covered == 0:
        return ProfileScore(0, inferred, golden, 0.0, 0.0, 0.0)
    precision, recall = covered / inferred, covered / golden
    return ProfileScore(covered, inferred, golden, precision, recall, 2 * precision * recall / (precision + recall))
