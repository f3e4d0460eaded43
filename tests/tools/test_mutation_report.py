"""The mutation report matches the equivalent mutants it lists to the survivors of a run."""

import importlib.util
from pathlib import Path

_SPEC = importlib.util.spec_from_file_location(
    "mutation_report", Path(__file__).parents[2] / "tools" / "mutation" / "report.py")
report = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(report)

F = "queue_core.journal.xǁJournalStorageǁ_tail__mutmut_"


def test_an_entry_matches_its_survivor_by_name_and_change():
    reasons, stale = report.match_equivalents(
        {F + "3": "aaaa0000", F + "4": "bbbb0000"}, {F + "3": ("aaaa0000", "same output")})
    assert reasons == {F + "3": "same output"}
    assert stale == []


def test_an_entry_follows_its_change_when_an_edit_renumbered_the_function_s_mutants():
    reasons, stale = report.match_equivalents(
        {F + "5": "aaaa0000"}, {F + "3": ("aaaa0000", "same output")})
    assert reasons == {F + "5": "same output"}
    assert stale == []


def test_an_entry_whose_change_no_longer_survives_is_stale():
    survivors = {F + "3": "cccc0000", "queue_core.ledger.x_load__mutmut_3": "aaaa0000"}
    reasons, stale = report.match_equivalents(survivors, {F + "3": ("aaaa0000", "why")})
    assert reasons == {}
    assert stale == [F + "3"]


def test_two_entries_never_claim_one_survivor():
    reasons, stale = report.match_equivalents(
        {F + "3": "aaaa0000"}, {F + "3": ("aaaa0000", "one"), F + "9": ("aaaa0000", "two")})
    assert reasons == {F + "3": "one"}
    assert stale == [F + "9"]


def test_the_function_is_the_name_without_its_number():
    assert report.function_of(F + "12") == F[:-len("__mutmut_")]


def test_a_mutant_without_a_verdict_is_reported_as_unchecked():
    results = {"a": ("killed", None), "b": ("survived", None), "c": ("timeout", None),
               "d": ("check was interrupted by user", None), "e": ("not checked", None)}
    assert report.unchecked(results) == ["d", "e"]
