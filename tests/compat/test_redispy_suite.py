"""The comparison logic of redispy_suite.py (the runs themselves are
`make test-compat`): which outcomes make a regression, how README.md's
known differences are read and matched, what a rerun confirms."""
from __future__ import annotations

from pathlib import Path

from tests.compat import redispy_suite as suite


def run(client: str, **outcomes: str) -> suite.Run:
    return suite.Run(client, {k.replace("__", "::"): {"outcome": v, "error": f"{v} on {client}"}
                              for k, v in outcomes.items()}, 1.0)


def test_readme_lists_each_difference_once_with_a_reason():
    known = suite.read_known_differences()
    patterns = [k.pattern for k in known]
    assert len(patterns) == len(set(patterns))
    for k in known:
        assert k.pattern.startswith("tests/") and "::" in k.pattern, k.pattern
        assert len(k.reason) > 20, f"{k.pattern}: say why"


def test_known_differences_are_read_from_their_section_only(tmp_path: Path):
    readme = tmp_path / "README.md"
    readme.write_text(
        "# x\n- `tests/a.py::outside`: not in the section\n"
        "## Known differences\n\ntext\n"
        "- `tests/a.py::T::test_one`: the reason\n"
        "- `tests/a.py::T::test_two[*]`: another reason\n"
        "- tests/a.py::no_backticks: ignored\n"
        "## Later\n- `tests/a.py::after`: not in the section\n",
        encoding="utf-8")
    known = suite.read_known_differences(readme)
    assert [(k.pattern, k.reason) for k in known] == [
        ("tests/a.py::T::test_one", "the reason"), ("tests/a.py::T::test_two[*]", "another reason")]


def test_patterns_match_parametrized_ids_literally_except_star():
    known = [suite.KnownDifference("tests/a.py::T::test_x[single]", "r"),
             suite.KnownDifference("tests/a.py::T::test_y*", "r")]
    assert suite.listed("tests/a.py::T::test_x[single]", known) is known[0]
    # fnmatch would read [single] as one of s,i,n,g,l,e and match test_xs.
    assert suite.listed("tests/a.py::T::test_xs", known) is None
    assert suite.listed("tests/a.py::T::test_x[pool]", known) is None
    assert suite.listed("tests/a.py::T::test_y[pool]", known) is known[1]
    assert suite.listed("tests/b.py::T::test_y", known) is None


def test_compare_counts_only_what_passes_on_redis_py_and_not_on_cpipe():
    baseline = run("redis-py", t__a="passed", t__b="passed", t__c="failed", t__d="skipped",
                   t__e="passed", t__f="passed")
    cpipe = run("cpipe", t__a="passed", t__b="failed", t__c="passed", t__d="skipped",
                t__e="skipped", t__f="failed")
    known = [suite.KnownDifference("t::f", "listed")]
    result = suite.compare(baseline, cpipe, known)
    # A skip on cpipe alone (a cpipe-side version gate, say) is a regression too.
    assert result.regressions == {"t::b": "failed on cpipe", "t::e": "skipped: skipped on cpipe"}
    assert list(result.allowed) == ["t::f"] and known[0].matched == 1
    assert result.only_cpipe_passes == ["t::c"]
    assert suite.why_not_passed(cpipe, "t::zz") == "not run"


def test_a_regression_not_repeated_on_the_rerun_is_flaky():
    result = suite.Comparison(regressions={"t::a": "x", "t::b": "x", "t::c": "x"})
    suite.confirm(result, run("redis-py", t__a="passed", t__b="passed", t__c="failed"),
                  run("cpipe", t__a="failed", t__b="passed", t__c="failed"))
    assert list(result.regressions) == ["t::a"]
    assert sorted(result.flaky) == ["t::b", "t::c"]
