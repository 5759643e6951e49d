"""Inferred profiles: reading `<profile>` / `<response>` sections and RLPA's F1 arithmetic."""

from __future__ import annotations

import pytest

from aloe_bench.profile import parse_profile, parse_rlpa_output, profile_f1, profile_lines


def test_profile_lines_drop_list_markers_and_blank_lines():
    text = "\n- Is a nurse\n* lives in Lisbon\n  3) surfs  \n\n• has a dog\n12. likes tea\n-\n"
    assert profile_lines(text) == ["Is a nurse", "lives in Lisbon", "surfs", "has a dog", "likes tea"]
    assert profile_lines("") == [] and profile_lines("   \n ") == []


@pytest.mark.parametrize("text,profile,malformed", [
    ("Sure.\n<profile>\n- nurse\n- Lisbon\n</profile>", ["nurse", "Lisbon"], None),
    ("<PROFILE>nurse</Profile>", ["nurse"], None),
    ("<profile>\n</profile>", [], None),  # knows nothing yet: well formed, empty
    ("I think you are a nurse.", None, "no <profile>...</profile> section"),
    ("<profile>nurse", None, "no <profile>...</profile> section"),  # never closed
    ("<profile>a</profile><profile>b</profile>", None, "2 <profile> sections"),
])
def test_a_probe_answer_is_read_or_marked_malformed(text, profile, malformed):
    out = parse_profile(text)
    assert (out.profile, out.malformed) == (profile, malformed)


@pytest.mark.parametrize("text,profile,response,malformed", [
    ("<profile>\nnurse\nLisbon\n</profile>\n<response> Hi there! </response>", ["nurse", "Lisbon"], "Hi there!", None),
    ("<profile></profile><response>Hello.</response>", [], "Hello.", None),
    ("<response>Hello.</response>", None, "Hello.", "no <profile>...</profile> section"),
    ("<profile>nurse</profile> Hello.", ["nurse"], None, "no <response>...</response> section"),
    ("<response>Hello.</response><profile>nurse</profile>", ["nurse"], "Hello.", "<response> comes before <profile>"),
    ("<profile>nurse</profile><response>  </response>", ["nurse"], "", "empty <response>"),
    ("<profile>a</profile><response>x</response><response>y</response>", ["a"], None, "2 <response> sections"),
    ("", None, None, "no <profile>...</profile> section"),
])
def test_rlpa_outputs_are_read_or_marked_malformed(text, profile, response, malformed):
    out = parse_rlpa_output(text)
    assert (out.profile, out.response, out.malformed) == (profile, response, malformed)


def test_profile_f1_is_rlpa_arithmetic_with_clamping():
    s = profile_f1(2, 4, 8)
    assert (s.covered, s.precision, s.recall) == (2, 0.5, 0.25) and s.f1 == pytest.approx(1 / 3)
    assert profile_f1(8, 8, 8).f1 == 1.0
    # a judge answering more than the profile states or the persona has is clamped
    assert profile_f1(9, 3, 5).covered == 3 and profile_f1(9, 3, 5).precision == 1.0
    assert profile_f1(9, 6, 4).covered == 4 and profile_f1(9, 6, 4).recall == 1.0
    # nothing covered, an empty profile, no golden facts, a negative answer: all 0
    for covered, inferred, golden in ((0, 5, 5), (3, 0, 5), (3, 5, 0), (-2, 5, 5)):
        s = profile_f1(covered, inferred, golden)
        assert (s.covered, s.precision, s.recall, s.f1) == (0, 0.0, 0.0, 0.0)
    with pytest.raises(ValueError):
        profile_f1(1, -1, 3)
