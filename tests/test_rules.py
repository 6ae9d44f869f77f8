"""Rules as data (dltour.rules): each piece decides as the verdict function it stands for, says when it
applies, fills its evidence, and a declared finding is made from runs alone (issue 20, item 2)."""

from __future__ import annotations

import pytest

from dltour import rules as R
from dltour import verdicts as V
from dltour.summary import Declared, decide_declared

LOW = {0: 1.0, 1: 1.1, 2: 0.9, 3: 1.05, 4: 0.95, 5: 1.02}
HIGH = {s: v + 1.0 + 0.03 * (s % 3) for s, v in LOW.items()}  # differences not tied: a t-test decides
MIXED = {0: 1.5, 1: 0.6, 2: 1.4, 3: 0.7, 4: 1.3, 5: 0.5}


def runs(**consts) -> R.Runs:
    return R.Runs({"err": {"a": LOW, "b": HIGH, "c": MIXED}, "acc": {"a": HIGH}}, consts)


@pytest.mark.parametrize("arm,other,direction,verdict", [
    ("a", "b", "less", V.HOLDS), ("b", "a", "less", V.FAILS), ("a", "c", "less", V.INCONCLUSIVE)])
def test_compare_is_verdicts_compare(arm, other, direction, verdict):
    rule = R.Compare("err", arm, other, direction, what="error", unit="u")
    d = rule.decide(runs())
    want = V.compare(runs().of("err", arm), runs().of("err", other), direction, names=(arm, other), what="error",
                     unit="u")
    assert d.verdict == verdict == want.verdict
    assert (d.test, d.evidence, d.p) == (want.test, want.evidence, want.p)


def test_a_rule_applies_only_when_its_arms_ran():
    assert R.Compare("err", "a", "b", "less").applies(runs())
    assert not R.Compare("err", "a", "zz", "less").applies(runs())
    assert not R.Compare("acc", "a", "b", "less").applies(runs())
    both = (R.Compare("err", "a", "b", "less"), R.Exceeds("err", "zz", 0.0, "greater"))
    assert not R.AllOf(both).applies(runs())
    assert R.AllOf(both, present=True).applies(runs())
    assert len(R.AllOf(both, labels=("x", "y"), present=True).decide(runs()).test.split(";")) >= 1


def test_exceeds_takes_a_named_threshold_and_a_fraction_of_a_constant():
    r = runs(base=1.5, truth=4.0)
    assert R.Exceeds("err", "a", "base", "less").decide(r).verdict == V.HOLDS  # ~1.0 < 1.5
    assert R.Exceeds("err", "b", "base", "less").decide(r).verdict == V.FAILS  # ~2.0 > 1.5
    # b / truth ~ 0.5: below 0.6, above 0.4
    assert R.Exceeds("err", "b", 0.6, "less", per="truth").decide(r).verdict == V.HOLDS
    assert R.Exceeds("err", "b", 0.4, "less", per="truth").decide(r).verdict == V.FAILS


def test_all_of_is_holm_adjusted_and_fails_with_any_part():
    ok = R.Compare("err", "a", "b", "less")
    bad = R.Compare("err", "b", "a", "less")
    assert R.AllOf((ok, ok), labels=("one", "two")).decide(runs()).verdict == V.HOLDS
    assert R.AllOf((ok, bad)).decide(runs()).verdict == V.FAILS
    d = R.AllOf((ok, ok)).decide(runs())
    assert d.verdict == V.all_of([ok.decide(runs()), ok.decide(runs())]).verdict


def test_gated_and_not_learned():
    r = runs(base=1.5)
    checks = (R.Learned("a", "err", "base", "less", " (error)"), R.Learned("b", "err", "base", "less", " (error)"),
              R.Learned("zz", "err", "base", "less"))
    failed = R.not_learned(checks, r)
    assert set(failed) == {"b"} and failed["b"].endswith(" (error)")  # b is above the baseline; zz did not run
    gated = R.Gated(R.Compare("err", "a", "b", "less"), ("a", "b"))
    assert gated.decide(R.Runs(r.metrics, r.consts, failed)).verdict == V.INCONCLUSIVE
    assert gated.decide(r).verdict == V.HOLDS  # nothing failed: the comparison's verdict
    assert R.Gated(R.Compare("err", "a", "c", "less"), ("a",)).decide(R.Runs(r.metrics, r.consts, failed)).verdict \
        == V.INCONCLUSIVE  # (its own verdict)


def test_requires_a_positive_constant():
    rule = R.Requires(R.Exceeds("err", "b", 0.6, "less", per="truth"), "truth", "no truth ({truth})")
    assert rule.decide(runs(truth=4.0)).verdict == V.HOLDS
    d = rule.decide(runs(truth=0.0))
    assert d.verdict == V.INCONCLUSIVE and "no truth (0)" in d.evidence + d.test


def test_evidence_fills_constants_and_arms():
    text = R.evidence("truth {truth}; a {err@a}", runs(truth=2.5))
    assert text == f"truth {V.fmt(2.5)}; a {V.describe('a', LOW)}"
    assert R.evidence("", runs()) == ""
    with pytest.raises(KeyError):
        R.evidence("{nope}", runs())


def test_declared_findings_are_made_from_runs_alone():
    table = {d.id: d for d in [
        Declared("test-rule-a", "a is below b", None, "§x", rule=R.Compare("err", "a", "b", "less"),
                 evidence="b {err@b}"),
        Declared("test-rule-missing", "zz is below b", None, "§x", rule=R.Compare("err", "zz", "b", "less")),
        Declared("test-no-rule", "decided by code", None, "§x"),
    ]}
    found = decide_declared(table, runs())
    assert [f.id for f in found] == ["test-rule-a"]  # the missing arm makes none; no rule: not here
    f = found[0]
    assert f.verdict == V.HOLDS and f.evidence.startswith("b ") and f.claim == "a is below b"
    with pytest.raises(TypeError, match="declares no rule"):
        table["test-no-rule"].decide(runs())


def test_compare_names_the_metric_unless_told_otherwise():
    r = runs()
    named, bare = R.Compare("err", "a", "b", "less").decide(r), R.Compare("err", "a", "b", "less", what="").decide(r)
    assert named.evidence != bare.evidence
    assert named.evidence == V.compare(LOW, HIGH, "less", names=("a", "b"), what="err").evidence
    assert bare.evidence == V.compare(LOW, HIGH, "less", names=("a", "b"), what="").evidence


def test_versus_pairs_any_two_metric_arm_pairs():
    r = R.Runs({"after": {"a": LOW}, "before": {"a": HIGH}})
    d = R.Versus(("after", "a"), ("before", "a"), "less", names=("trained", "initial")).decide(r)
    assert d.verdict == V.HOLDS and "trained" in d.evidence + d.test
    assert not R.Versus(("after", "a"), ("before", "zz"), "less", names=("x", "y")).applies(r)


def test_best_of_and_where_it_applies():
    r = runs()
    assert R.BestOf("err", "a", "less").decide(r).verdict == V.best_of(r.metrics["err"], "a", "less").verdict
    assert R.BestOf("err", "b", "less", arms=("a", "b")).decide(r).verdict == V.FAILS
    assert R.BestOf("err", "zz", "less").applies(r)  # least 0: always (best_of says "not checked")
    assert R.BestOf("err", "zz", "less").decide(r).verdict == V.NOT_CHECKED
    assert not R.BestOf("err", "zz", "less", least=1).applies(r)
    assert R.BestOf("err", "a", "less", least=3).applies(r) and not R.BestOf("err", "a", "less", least=4).applies(r)
    assert not R.BestOf("err", "a", "less", arms=("a", "zz")).applies(r)


def test_near_reference_uses_a_named_constant():
    r = runs(ref=1.0)
    rule = R.NearReference("err", "a", "ref", 0.2, "ten percent, stated", "a")
    assert rule.decide(r).verdict == V.near_reference(LOW, 1.0, 0.2, margin_source="ten percent, stated",
                                                       name="a").verdict == V.HOLDS
    assert R.NearReference("err", "b", "ref", 0.2, "stated", "b").decide(r).verdict == V.FAILS


def test_gated_every_needs_and_noted():
    r = R.Runs(runs().metrics, {}, {"c": "c did not learn"})
    inner = R.Compare("err", "a", "b", "less")
    assert R.GatedEvery(inner, "acc").decide(r).verdict == V.HOLDS  # acc has only arm a, which learned
    assert R.GatedEvery(inner, "err").decide(r).verdict == V.INCONCLUSIVE  # err's arms include c
    needs = R.Needs(R.Compare("err", "a", "zz", "less"), "needs zz")
    assert needs.applies(r) and needs.decide(r).verdict == V.NOT_CHECKED and "needs zz" in needs.decide(r).evidence \
        + needs.decide(r).test
    assert R.Noted(inner, "a note").decide(r).evidence.startswith("a note; ")
    assert R.Noted(inner, lambda rr: "").decide(r).evidence == inner.decide(r).evidence


def same(d1: V.Decision, d2: V.Decision) -> bool:
    """Every field of two decisions (verdict, evidence, test line, p, effect, CI, unit, ...) alike."""
    import dataclasses
    import json

    return json.dumps(dataclasses.asdict(d1), default=str) == json.dumps(dataclasses.asdict(d2), default=str)


TOP = {s: 5.0 + 0.1 * s for s in LOW}  # above every other arm


def test_each_rule_is_its_verdict_function_to_the_letter():
    r = R.Runs({"err": {"a": LOW, "b": HIGH, "c": MIXED, "d": TOP}}, {"base": 1.5, "truth": 4.0, "ref": 1.0})
    assert same(R.Compare("err", "a", "b", "less", what="w", unit="u").decide(r),
                V.compare(LOW, HIGH, "less", names=("a", "b"), what="w", unit="u"))
    assert same(R.Versus(("err", "a"), ("err", "b"), "less", names=("x", "y"), what="w", unit="u").decide(r),
                V.compare(LOW, HIGH, "less", names=("x", "y"), what="w", unit="u"))
    assert same(R.Exceeds("err", "b", "base", "greater", what="w", unit="u").decide(r),
                V.exceeds(HIGH, 1.5, "greater", name="b", what="w", unit="u"))
    assert same(R.Exceeds("err", "b", 0.6, "less", name="n", per="truth").decide(r),
                V.exceeds({s: x / 4.0 for s, x in HIGH.items()}, 0.6, "less", name="n"))
    assert same(R.BestOf("err", "a", "less", what="w", unit="u").decide(r),
                V.best_of({"a": LOW, "b": HIGH, "c": MIXED, "d": TOP}, "a", "less", what="w", unit="u"))
    # arms restrict the field: b is the highest of a and b, not of all (d is higher)
    assert same(R.BestOf("err", "b", "greater", arms=("a", "b")).decide(r),
                V.best_of({"a": LOW, "b": HIGH}, "b", "greater"))
    assert R.BestOf("err", "b", "greater", arms=("a", "b")).decide(r).verdict == V.HOLDS
    assert R.BestOf("err", "b", "greater").decide(r).verdict != V.HOLDS
    assert same(R.NearReference("err", "a", "ref", 0.2, "src", "n", what="w", unit="u").decide(r),
                V.near_reference(LOW, 1.0, 0.2, margin_source="src", name="n", what="w", unit="u"))
    parts = (R.Compare("err", "a", "b", "less"), R.Compare("err", "a", "d", "less"))
    assert same(R.AllOf(parts, labels=("one", "two")).decide(r),
                V.all_of([p.decide(r) for p in parts], labels=["one", "two"]))
    partly = (R.Compare("err", "a", "zz", "less"), R.Compare("err", "a", "d", "less"))
    assert same(R.AllOf(partly, labels=("one", "two"), present=True).decide(r),
                V.all_of([partly[1].decide(r)], labels=["two"]))


def test_absent_metrics_and_arms():
    r = runs()
    assert r.of("nosuch", "a") == {} and r.of("err", "zz") == {}
    assert not r.has("nosuch", "a")
    assert R.GatedEvery(R.Compare("err", "a", "b", "less"), "nosuch").decide(r).verdict == V.HOLDS


def test_needs_passes_the_decision_through_when_the_arms_ran():
    inner = R.Compare("err", "a", "b", "less")
    assert same(R.Needs(inner, "why").decide(runs()), inner.decide(runs()))


def test_noted_calls_its_note_with_the_runs_and_requires_any_positive_constant():
    inner = R.Compare("err", "a", "b", "less")
    d = R.Noted(inner, lambda rr: f"{len(rr.metrics)} metrics").decide(runs())
    assert d.evidence.startswith("2 metrics; ")
    rule = R.Requires(R.Exceeds("err", "b", 5.0, "less", per="truth"), "truth", "none")
    assert rule.decide(runs(truth=0.5)).verdict == V.HOLDS  # positive, below 1: decided


def test_not_learned_goes_on_past_an_arm_that_did_not_run():
    r = runs(base=1.5)
    failed = R.not_learned((R.Learned("zz", "err", "base", "less"), R.Learned("b", "err", "base", "less")), r)
    assert set(failed) == {"b"}


def test_applies_and_missing_metrics_of_best_of_and_exceeds():
    r = runs()
    assert R.BestOf("err", "a", "less", arms=("a", "b")).applies(r)
    assert R.BestOf("nosuch", "a", "less").decide(r).verdict == V.NOT_CHECKED
    assert R.Exceeds("err", "a", 0.0, "greater").applies(r)
    assert not R.Exceeds("acc", "b", 0.0, "greater").applies(r) and not R.Exceeds("nosuch", "a", 0.0, "less").applies(r)


def test_an_evidence_field_reads_the_arm_after_the_last_at():
    r = R.Runs({"is@cnn": {"gan": LOW}})
    assert R.evidence("{is@cnn@gan}", r) == V.describe("gan", LOW)


def test_wrappers_apply_as_the_rule_they_wrap():
    r = runs(ref=1.0, truth=1.0)
    ran, missing = R.Compare("err", "a", "b", "less"), R.Compare("err", "a", "zz", "less")
    for wrap in (lambda x: R.Gated(x, ("a",)), lambda x: R.GatedEvery(x, "err"), lambda x: R.Noted(x, "n"),
                 lambda x: R.Requires(x, "truth", "why")):
        assert wrap(ran).applies(r) and not wrap(missing).applies(r)
    assert R.NearReference("err", "a", "ref", 0.2, "src", "a").applies(r)
    assert not R.NearReference("err", "zz", "ref", 0.2, "src", "zz").applies(r)
    assert not R.NearReference("nosuch", "a", "ref", 0.2, "src", "a").applies(r)
