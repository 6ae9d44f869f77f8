"""What the runs of ``vgg-transfer`` mean (the study itself, what it trains and what a run returns, is
:mod:`dltour.experiments.vgg_transfer`): the reference's numbers (Table 7) and the claims' thresholds, the
findings declared with their rules (``FINDINGS``) and their decision from the runs (``decide``), Tables 7
and 1, Figures 1 and 9-12, the summary (``summarize``), and whether a run is comparable with the reference
(``comparison``). The study binds ``summarize``,
``comparison``, ``label`` and ``reference`` from here; the functions take the study as their first argument
and never import it.

How each claim is measured (from each run's metrics; the curve measures come from its epoch history: see
``curve_metrics`` in the study): R1 jump-start, validation accuracy after epoch 1 and the area under the
validation curve (its mean over epochs), pretrained (all trainable) > random; R2 overfitting, the final
training accuracy of the fully trainable pretrained nets >= ``OVERFIT_THRESHOLD``; R3 smoothness, the sd of
the epoch-to-epoch changes of validation accuracy, conv frozen < all trainable; R5, random init's test
accuracy below both pretrained variants; R6, VGG-16 > VGG-19 in test accuracy for every reference
initialisation that ran for both; R7 flatness, the rise of training accuracy from epoch 1 to the last,
``frozen224`` < ``frozen``; R8, ``frozen224`` > ``frozen`` in test accuracy; R9, per arch, pretrained >
conv frozen > random in test accuracy; ours, ``tuned`` > ``random`` in test accuracy. R1, R2, R3 and R7 are
inconclusive when a pretrained run they involve did not learn (test accuracy not above chance: ``verdicts.gate``).

Decisions: every finding is declared once with its rule (``FINDINGS``: pieces of :mod:`dltour.rules` and
three of this study's own, ``OverArchs``, ``ArchVsArch`` and ``ArchOrder``), and the rule decides it;
``decide`` only supplies the runs: every variant's per-seed values, the chance level, the epochs,
whether these are the demo's runs (then the evidence says what they are an analogue of), the
variants with a run that did not learn, and each reference finding's budget. A claim about both
architectures (``OverArchs``, issue 18) is decided per seed, on the mean over the archs of that
seed's runs (runs of one seed share its data order, so the seed is the independent unit; n =
seeds, never (arch, seed) pairs), over the archs in which every variant it needs ran; a rule whose
variants did not run is "not checked", saying which. Every reference finding declares its arms'
per-epoch validation (or, for R2 and R7, training) accuracy as its budget (``BUDGET_CURVE``): a
"does not hold" from runs trained below the reference's 20 epochs whose curve was still rising (or
peaked at the last epoch) is inconclusive (``verdicts.budget_gate``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from dltour import rules as R
from dltour import verdicts as V
from dltour.data import vgg_pretrain
from dltour.data.imagenet_weights import weights_filename
from dltour.data.tinyimagenet import TINY_IMAGENET, count_classes, is_tinyimagenet
from dltour.plots import new_figure, save
from dltour.summary import Comparison, Declared, declare, Finding, Ref, RunResult, Summary, Table
from dltour.summary import Results
from dltour.verdicts import Budget, Decision, describe

#: the variants' axes: architectures and initialisations (the study's ``<arch>-<init>``)
ARCHS = ("vgg16", "vgg19")
INITS = ("random", "imagenet", "frozen", "frozen224", "tuned")
REFERENCE_INITS = ("random", "imagenet", "frozen", "frozen224")  # the reference's variants (not ``tuned``)
NEEDS_WEIGHTS = ("imagenet", "frozen", "frozen224")  # the inits that load pretrained weights
INIT_LABEL = {"random": "Random", "imagenet": "ImageNet", "frozen": "Fine-tuned ImageNet (conv frozen)",
              "frozen224": "Fine-tuned ImageNet (224, all but last frozen)", "tuned": "Random, tuned recipe (ours)"}
DEMO_LABEL = {"random": "Random", "imagenet": "CIFAR-5 pretrained (all trainable)",
              "frozen": "CIFAR-5 pretrained, conv frozen",
              "frozen224": "CIFAR-5 pretrained, all but last frozen (analogue of 224)",
              "tuned": "Random, tuned recipe (ours)"}
# Table 7: test accuracy (%), inference time (us per image)
REF_TABLE7 = {
    "vgg16-random": (3.82, 298), "vgg16-imagenet": (58.42, 283), "vgg16-frozen": (40.95, 284),
    "vgg16-frozen224": (41.76, 1879), "vgg19-random": (3.14, 339), "vgg19-imagenet": (54.30, 343),
    "vgg19-frozen": (41.63, 340), "vgg19-frozen224": (42.49, 2104),
}
#: R2's threshold: "almost 100%" training accuracy read as >= 95% (within 5 points of 100)
OVERFIT_THRESHOLD = 95.0
#: the reference's budget
REF_EPOCHS, REF_VAL_PER_CLASS, REF_SIZE = 20, 50, 64


# ---------------------------------------------------------------- the rules (dltour.rules pieces, and this study's)
def _ran(runs: R.Runs, variant: str) -> bool:
    """Whether ``variant`` ran: the study's runs name every variant that ran under every metric."""
    return any(variant in m for m in runs.metrics.values())


def _seed_means(vals: list[Mapping[int, float]]) -> dict[int, float]:
    """{seed: mean of the seed's values over ``vals``} for the seeds all of them have."""
    seeds = sorted(set.intersection(*(set(v) for v in vals))) if vals else []
    return {s: float(np.mean([v[s] for v in vals])) for s in seeds}


def _needs(runs: R.Runs, variants: list[str]) -> Decision:
    missing = [v for v in variants if not _ran(runs, v)]
    return V.not_checked(f"needs the variants {', '.join(missing)}, which did not run here")


def _noted(d: Decision, note: str, runs: R.Runs) -> Decision:
    """``d`` with ``note`` (what the demo's runs are an analogue of) before its evidence, in the demo
    (the constant ``demo`` set)."""
    return replace(d, evidence=f"{note}; {d.evidence}") if note and runs.consts.get("demo") else d


def _texts(rule, texts: dict[str, str]):
    """``rule`` (a ``Compare``, ``Exceeds`` or ``AllOf`` of them) with ``texts`` filled into its ``what``."""
    if isinstance(rule, R.AllOf):
        return replace(rule, parts=tuple(_texts(p, texts) for p in rule.parts))
    return replace(rule, what=rule.what.format(**texts))


@dataclass(frozen=True)
class OverArchs:
    """A claim about both architectures, decided per seed: ``rule`` (``dltour.rules`` pieces whose arms
    are initialisations) on each initialisation's per-seed mean over the archs in which every one of
    ``inits`` ran (runs of one seed share its data order, so the seed is the unit: :func:`per_seed`).
    Its ``what`` texts may name ``{archs}`` (those archs), ``{chance}`` and ``{epochs}``. ``learned``:
    the initialisations whose runs must have learned (``verdicts.gate``, on those archs' variants).
    No arch ran them all: not checked, ``otherwise`` saying why (default: which of the first arch's
    variants did not run). ``demo``: the note the evidence starts with in the demo."""

    rule: Any
    inits: tuple[str, ...]
    learned: tuple[str, ...] = ()
    otherwise: str = ""
    demo: str = ""

    def archs(self, runs: R.Runs) -> list[str]:
        return [a for a in ARCHS if all(_ran(runs, f"{a}-{i}") for i in self.inits)]

    def variants(self, runs: R.Runs) -> list[str]:
        """The variants it decides from (its budget's arms), arch by arch."""
        return [f"{a}-{i}" for a in self.archs(runs) for i in self.inits]

    def applies(self, runs: R.Runs) -> bool:
        return True

    def decide(self, runs: R.Runs) -> Decision:
        archs = self.archs(runs)
        if not archs:
            d = (V.not_checked(self.otherwise) if self.otherwise
                 else _needs(runs, [f"{ARCHS[0]}-{i}" for i in self.inits]))
            return _noted(d, self.demo, runs)
        means = R.Runs({m: {i: _seed_means([runs.of(m, f"{a}-{i}") for a in archs]) for i in self.inits}
                        for m in runs.metrics}, runs.consts)
        texts = {"archs": ", ".join(archs), "chance": V.fmt(runs.consts["chance"]),
                 "epochs": runs.consts["epochs"] or "?"}
        d = _texts(self.rule, texts).decide(means)
        d = V.gate(d, runs.failed, [f"{a}-{i}" for a in archs for i in self.learned])
        return _noted(d, self.demo, runs)


@dataclass(frozen=True)
class ArchVsArch:
    """The first arch against the second in ``metric`` with the same initialisation, for every one of
    ``inits`` that ran for both: each ``dltour.rules.Compare`` (paired by seed), all holding
    (``AllOf``, Holm within, the parts labelled by initialisation); none ran for both: not checked,
    ``otherwise`` saying why. ``demo``: the note the evidence starts with in the demo."""

    metric: str
    direction: str
    inits: tuple[str, ...]
    what: str
    unit: str
    otherwise: str
    demo: str = ""

    def _rule(self) -> R.AllOf:
        return R.AllOf(tuple(R.Compare(self.metric, f"{ARCHS[0]}-{i}", f"{ARCHS[1]}-{i}", self.direction,
                                       what=self.what, unit=self.unit) for i in self.inits),
                       labels=self.inits, present=True)

    def variants(self, runs: R.Runs) -> list[str]:
        both = [i for i in self.inits if all(_ran(runs, f"{a}-{i}") for a in ARCHS)]
        return [f"{a}-{i}" for a in ARCHS for i in both]

    def applies(self, runs: R.Runs) -> bool:
        return True

    def decide(self, runs: R.Runs) -> Decision:
        rule = self._rule()
        d = rule.decide(runs) if rule.applies(runs) else V.not_checked(self.otherwise)
        return _noted(d, self.demo, runs)


@dataclass(frozen=True)
class ArchOrder:
    """One arch's initialisations in order: ``<arch>-<inits[0]>`` before ``<arch>-<inits[1]>`` before
    ... in ``metric`` (``direction``: "greater", each higher than the next), each step a
    ``dltour.rules.Compare`` (paired by seed), all holding (``AllOf``, Holm within). A declaration
    for every arch: bind one with :meth:`at`. Some of its variants did not run: not checked; none
    did: no finding. ``demo``: the note the evidence starts with in the demo."""

    metric: str
    inits: tuple[str, ...]
    direction: str
    what: str
    unit: str
    demo: str = ""
    arch: str = ""

    def at(self, arch: str) -> "ArchOrder":
        return replace(self, arch=arch)

    def _variants(self) -> list[str]:
        return [f"{self.arch}-{i}" for i in self.inits]

    def variants(self, runs: R.Runs) -> list[str]:
        vs = self._variants()
        return vs if all(_ran(runs, v) for v in vs) else []

    def applies(self, runs: R.Runs) -> bool:
        return any(_ran(runs, v) for v in self._variants())

    def decide(self, runs: R.Runs) -> Decision:
        vs = self._variants()
        if not all(_ran(runs, v) for v in vs):
            return _noted(_needs(runs, vs), self.demo, runs)
        sign = ">" if self.direction == "greater" else "<"
        d = R.AllOf(tuple(R.Compare(self.metric, a, b, self.direction, what=self.what, unit=self.unit)
                          for a, b in zip(vs, vs[1:])),
                    labels=tuple(f"{a} {sign} {b}" for a, b in zip(self.inits, self.inits[1:]))).decide(runs)
        return _noted(d, self.demo, runs)


#: what the demo's runs are an analogue of (the note before a finding's evidence in the demo)
ANALOGUE = "demo analogue: 'imagenet' = nets pretrained on five other CIFAR-10 classes, not ImageNet"
SMALLER = ("demo analogue: no input is upsampled; the variant keeps the pretrained fc1/fc2 frozen and trains only the "
           "last layer, so it checks the smaller trainable capacity the reference credits, not the larger input")
TABLE7 = ("the reference's own Table 7 contradicts the claim for frozen (VGG-16 40.95% vs VGG-19 41.63%) and "
          "frozen224 (41.76% vs 42.49%); it holds there for random (3.82 vs 3.14) and imagenet (58.42 vs 54.30)")
PER_SEED = "; per seed, the mean over {archs}"
ACC = "test accuracy, %"
VAL = "validation accuracy, points"


def _acc(arm: str, other: str, direction: str) -> R.Compare:
    return R.Compare("test_acc", arm, other, direction, what=ACC + PER_SEED, unit=ACC)


#: the study's findings, declared once with their rules: ``decide`` supplies the runs' values (and
#: each reference finding's budget)
FINDINGS = declare("T1.1", [
    Declared("jump-start",
             "Pretrained weights jump-start learning: higher validation accuracy after epoch 1 and over the whole "
             "curve than random init", "R1", "§1, Figure 1",
             rule=OverArchs(R.AllOf((
                 R.Compare("val_acc_epoch1", "imagenet", "random", "greater",
                           what="validation accuracy after epoch 1, %" + PER_SEED, unit=VAL),
                 R.Compare("val_acc_auc", "imagenet", "random", "greater",
                           what="area under the validation-accuracy curve = its mean over epochs, %" + PER_SEED,
                           unit=VAL)), labels=("after epoch 1", "area under the curve")),
                 ("imagenet", "random"), learned=("imagenet",), demo=ANALOGUE)),
    Declared("finetune-overfits",
             f"With all layers trainable the pretrained net overfits: almost 100% (>= {OVERFIT_THRESHOLD:g}%) "
             f"training accuracy", "R2", "§1, Figure 1",
             rule=OverArchs(R.Exceeds("final_train_acc", "imagenet", OVERFIT_THRESHOLD, "greater",
                                      name="final training accuracy of the fully trainable pretrained nets",
                                      unit="training accuracy, %",
                                      what=f"'almost 100%' read as >= {OVERFIT_THRESHOLD:g}%, after {{epochs}} epochs "
                                           f"(the reference: 20)" + PER_SEED),
                            ("imagenet",), learned=("imagenet",), demo=ANALOGUE)),
    Declared("frozen-smoother",
             "Training only the fully connected layers gives a smoother curve than training all layers", "R3",
             "§1, Figure 1",
             rule=OverArchs(R.Compare("val_acc_change_sd", "frozen", "imagenet", "less",
                                      what="smoothness = sd of the epoch-to-epoch changes of validation accuracy "
                                           "(points); lower is smoother" + PER_SEED,
                                      unit="sd of validation-accuracy changes, points"),
                            ("imagenet", "frozen"), learned=("imagenet", "frozen"), demo=ANALOGUE)),
    Declared("random-unsatisfactory",
             "Random initialisation is unsatisfactory within the budget ({epochs} epochs): below both pretrained "
             "variants in test accuracy", "R5", "§1",
             rule=OverArchs(R.AllOf((_acc("random", "imagenet", "less"), _acc("random", "frozen", "less")),
                                    labels=("random < pretrained (all trainable)",
                                            "random < pretrained (conv frozen)")),
                            ("random", "imagenet", "frozen"), demo=ANALOGUE),
             evidence="the explanation (~140M parameters need many more epochs) is not tested"),
    Declared("vgg16-ge-vgg19",
             "VGG-16 consistently outperforms VGG-19 (test accuracy, every reference initialisation)", "R6",
             "§1, Table 7",
             rule=ArchVsArch("test_acc", "greater", REFERENCE_INITS, ACC, ACC,
                             otherwise="needs both archs with the same initialisation", demo=ANALOGUE),
             evidence=TABLE7 + "; `tuned` (ours) is left out"),
    Declared("frozen224-flatter",
             "The large-input model (only the last layer trainable) has a flatter learning curve than the "
             "frozen-conv 64-px model", "R7", "§1, Figures 1, 9, 12",
             rule=OverArchs(R.Compare("train_acc_rise", "frozen224", "frozen", "less",
                                      what="flatness = rise of training accuracy from epoch 1 to the last epoch "
                                           "(points); lower is flatter" + PER_SEED,
                                      unit="training-accuracy rise, points"),
                            ("frozen", "frozen224"), learned=("frozen", "frozen224"), demo=SMALLER)),
    Declared("frozen224-ge-frozen",
             "Keeping the pretrained fc1/fc2 (large input, only the last layer trained) gives a higher test accuracy "
             "than the frozen-conv variant (Table 7: +0.8 / +0.9 points)", "R8", "Table 7",
             rule=OverArchs(_acc("frozen224", "frozen", "greater"), ("frozen", "frozen224"), demo=SMALLER)),
    Declared("{arch}-imagenet-gt-frozen-gt-random",
             "{arch}: pretrained (all trainable) > conv frozen > random init in test accuracy", "R9", "Table 7",
             rule=ArchOrder("test_acc", ("imagenet", "frozen", "random"), "greater", ACC, ACC, demo=ANALOGUE)),
    Declared("tuned-beats-faithful-random",
             "The random-init result is a recipe failure: batch-norm VGG with a schedule and augmentation beats the "
             "faithful random-init recipe",
             rule=OverArchs(R.Compare("test_acc", "tuned", "random", "greater",
                                      what="test accuracy, % (chance {chance}%)" + PER_SEED, unit=ACC),
                            ("tuned", "random"),
                            otherwise="needs the tuned and random variants (tuned is not run in the demo)")),
])

#: the budget of each reference finding: the per-epoch quantity of the variants it decides from whose
#: curves, after fewer than the reference's 20 epochs, can make a "does not hold" inconclusive
BUDGET_CURVE = {"jump-start": "val_acc", "finetune-overfits": "train_acc", "frozen-smoother": "val_acc",
                "random-unsatisfactory": "val_acc", "vgg16-ge-vgg19": "val_acc", "frozen224-flatter": "train_acc",
                "frozen224-ge-frozen": "val_acc", "{arch}-imagenet-gt-frozen-gt-random": "val_acc"}

#: the study's ``reference``: Table 7's test accuracy and inference time per variant
reference = [r for v, (acc, us) in REF_TABLE7.items() for r in (
    Ref("Table 7", v, "test_acc", acc, "test accuracy, %"),
    Ref("Table 7", v, "infer_us", us, "us per image, batch size and GPU not stated"))]


def label(cfg, init: str) -> str:
    """The initialisation's name in the tables (the demo's pretrained nets are not ImageNet's)."""
    return (DEMO_LABEL if cfg.pretrained == "demo-cifar5" else INIT_LABEL)[init]


# ---------------------------------------------------------------- decisions (plain per-seed values in)
#: the metrics the rules read (each run's; the curve measures from its history)
MEASURES = ("test_acc", "val_acc_epoch1", "val_acc_auc", "final_train_acc", "val_acc_change_sd", "train_acc_rise")


def per_seed(res: Results, init: str, metric: str, archs=ARCHS) -> dict[int, float]:
    """{seed: mean over ``archs`` of ``<arch>-<init>``'s value}: claims that "apply to both
    architectures" reduce the two archs' runs of one seed to one value first, since runs of one
    seed share its data order (and a frozen variant's head initialisation), so the seed is the
    independent unit. Seeds missing in an arch are left out."""
    return _seed_means([res.values(f"{a}-{init}", metric) for a in archs])


CURVE_NAME = {"val_acc": "validation accuracy", "train_acc": "training accuracy"}


def budget_of(res: Results, variants: list[str], key: str, epochs: int | None) -> Budget | None:
    """The variants' per-epoch ``key`` (validation or training accuracy, higher is better) at
    ``epochs`` (None: the longest saved history) against the reference's 20 epochs: the budget of
    a finding about them (``verdicts.budget_gate``); None when no run saved a history."""
    curves = {v: c for v in variants if (c := res.curves(v, key))}
    if not curves:
        return None
    if epochs is None:
        epochs = max(len(c) for cs in curves.values() for c in cs.values())
    return Budget(curves, "higher", epochs, REF_EPOCHS, name=CURVE_NAME[key])


def decide(res: Results, chance: float, demo: bool = False, epochs: int | None = None) -> list[Finding]:
    """Every finding of the study, by the rules declared in ``FINDINGS``, from the runs' metrics (see
    ``run``'s curve metrics): every variant's per-seed values of ``MEASURES``, the chance level, the
    epochs, whether these are the demo's runs, and the variants with a run that did not learn (test
    accuracy not above chance). Every reference finding gets its arms' accuracy curves as its budget
    (``BUDGET_CURVE``, ``epochs`` of the reference's 20); R9's rule is bound to each arch in turn."""
    consts = {"chance": chance, "epochs": epochs or 0, "demo": 1.0 if demo else 0.0}
    runs = R.Runs({m: {v: res.values(v, m) for v in res.variants} for m in MEASURES}, consts,
                  V.did_not_learn(res.table("test_acc"), chance, "greater"))
    out = []
    for fid, decl in FINDINGS.items():
        each = ([(replace(decl, rule=decl.rule.at(a)), {"arch": a}) for a in ARCHS] if hasattr(decl.rule, "at")
                else [(decl, {})])
        for d, fill in each:
            bud = budget_of(res, d.rule.variants(runs), BUDGET_CURVE[fid], epochs) if fid in BUDGET_CURVE else None
            f = d.decide(runs, budget=bud, epochs=epochs or "?", **fill)
            if f is not None:
                out.append(f)
    return out


# ---------------------------------------------------------------- tables
def _mean_sd(v: dict[int, float]) -> str:
    x = np.array([a for a in v.values() if math.isfinite(a)])
    if x.size == 0:
        return "-"
    if x.size == 1:
        return f"{x[0]:.2f} (n=1)"
    return f"{x.mean():.2f} ± {x.std(ddof=1):.2f} (n={x.size})"


def tables(res: Results, cfg, label, timing: dict | None = None) -> list[Table]:
    """Table 7 (every reference variant that ran) and Table 1 (per arch, the best by test accuracy
    and the fastest), our numbers beside the reference's; ``tuned`` is left out (not the reference's).
    Bold: Table 7, the best value per column; Table 1, per column within each arch (as the reference
    marks the metric each model is best in)."""
    rows_v = [f"{a}-{i}" for a in ARCHS for i in REFERENCE_INITS if f"{a}-{i}" in res]
    if not rows_v:
        return []

    def size(v):
        init = v.split("-", 1)[1]
        return f"{cfg.image_size}->{cfg.large_input}" if init == "frozen224" and cfg.large_input != cfg.image_size \
            else str(cfg.image_size)

    header = ["variant", "init", "input", "test acc % (ours)", "ref test acc %", "infer us/img batched (ours)",
              "batch-1 latency us (ours)", "ref us", "trainable params"]
    rows, vals = [], []
    for v in rows_v:
        ref = REF_TABLE7.get(v, (None, None))
        m = (res.mean(v, "test_acc"), ref[0], res.mean(v, "infer_us"), res.mean(v, "infer_us_b1"), ref[1])
        vals.append(m)
        rows.append([v, label(cfg, v.split("-", 1)[1]), size(v), _mean_sd(res.values(v, "test_acc")),
                     "-" if ref[0] is None else f"{ref[0]:.2f}", f"{m[2]:,.0f}", f"{m[3]:,.0f}",
                     "-" if ref[1] is None else f"{ref[1]:,}", f"{int(res.mean(v, 'trainable_params')):,}"])
    bold = []
    for j, (col, best) in enumerate(zip((3, 4, 5, 6, 7), (max, max, min, min, min))):
        col_vals = [(i, m[j]) for i, m in enumerate(vals) if m[j] is not None and math.isfinite(m[j])]
        if col_vals:
            target = best(x for _, x in col_vals)
            bold += [(i, col) for i, x in col_vals if x == target]
    note = ("Reference variants only (`tuned` is ours). Test accuracy: mean ± sd over seeds. Bold: the best value "
            "per column.")
    if timing:
        note += (f" Timing: {timing['what']}; batch {timing['batch_size']}, warm-up {timing['warmup']}, "
                 f"{timing['iters']} timed passes, {timing['device']}, {timing['dtype']}, {timing['memory_format']}.")
    if all(res.values(v, "infer_us_fp32") for v in rows_v):  # on CUDA: both precisions, batched and batch 1
        header += ["infer us/img fp32", "infer us/img bf16", "batch-1 us fp32", "batch-1 us bf16"]
        for v, row in zip(rows_v, rows):
            row += [f"{res.mean(v, k):,.1f}" for k in ("infer_us_fp32", "infer_us_bf16", "infer_us_b1_fp32",
                                                        "infer_us_b1_bf16")]
        note += " The last four columns time the same model at fp32 and at bf16 autocast."
    t7 = Table("Table 7: test accuracy and inference time per variant", header, rows, bold=bold, note=note)

    rows1, bold1 = [], []
    for a in ARCHS:
        vs = [v for v in rows_v if v.startswith(a + "-")]
        if not vs:
            continue
        best = max(vs, key=lambda v: res.mean(v, "test_acc"))
        fast = min(vs, key=lambda v: res.mean(v, "infer_us"))
        for v in dict.fromkeys([best, fast]):
            ref = REF_TABLE7.get(v, (None, None))
            r = len(rows1)
            rows1.append([a, label(cfg, v.split("-", 1)[1]), size(v), _mean_sd(res.values(v, "test_acc")),
                          f"{res.mean(v, 'infer_us'):,.0f}", "-" if ref[0] is None else f"{ref[0]:.2f}",
                          "-" if ref[1] is None else f"{ref[1]:,}"])
            if v == best:
                bold1.append((r, 3))
            if v == fast:
                bold1.append((r, 4))
    t1 = Table("Table 1: best model per architecture (test accuracy, inference time)",
               ["arch", "init", "input", "test acc % (ours)", "infer us/img batched (ours)", "ref test acc %",
                "ref us"], rows1, bold=bold1,
               note="Per architecture, the variant with the best mean test accuracy and the fastest (batched); bold: "
                    "the metric each row is the best in within its architecture. Reference variants only. The "
                    "reference's Table 1: VGG-16 ImageNet 58.42% / 283 us; VGG-19 ImageNet 54.30% / 343 us and "
                    "VGG-19 random 3.14% / 339 us.")
    return [t7, t1]


# ---------------------------------------------------------------- comparable with the reference?
def _is_reference_data(p: Path) -> bool:
    """Tiny-ImageNet-200: a file with the canonical zip's md5, or a folder with its layout and 200 wnids."""
    import hashlib

    if not p.exists():
        return False
    if p.is_file():
        algo, want = TINY_IMAGENET.known_hash.split(":")
        h = hashlib.new(algo)
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        return h.hexdigest() == want
    try:
        if not is_tinyimagenet(p):
            return False
    except Exception:
        return False
    wn = list(p.rglob("wnids.txt"))
    return bool(wn) and len(wn[0].read_text().split()) == 200


def comparison(study, cfg) -> Comparison:
    """data: Tiny-ImageNet-200 (our md5-checked download, a zip with its md5, or a folder with its
    layout and 200 classes); budget: 20 epochs, every image, 64x64, full-width VGG, ImageNet weights."""
    why = []
    if cfg.data.path is None:
        data = cfg.data.source == "download"  # Tiny-ImageNet fetched by us: the canonical zip, md5-checked
        if not data:
            why.append("data: the embedded CIFAR-10 demo subset, not Tiny-ImageNet")
    else:
        data = _is_reference_data(Path(cfg.data.path).expanduser())
        if not data:
            why.append(f"data: {cfg.data.path} is not Tiny-ImageNet-200 (checked by md5 or layout)")
    diffs = []
    if cfg.epochs != REF_EPOCHS:
        diffs.append(f"{cfg.epochs} epochs instead of {REF_EPOCHS}")
    dc = cfg.data
    if dc.classes is not None or dc.class_names is not None:
        diffs.append(f"{count_classes(dc, cfg.image_size)} classes")
    if dc.train_per_class is not None or dc.test_per_class is not None:
        diffs.append(f"{dc.train_per_class or 'all'} train / {dc.test_per_class or 'all'} test images per class")
    if dc.val_per_class != REF_VAL_PER_CLASS:
        diffs.append(f"{dc.val_per_class} validation images per class")
    if cfg.image_size != REF_SIZE:
        diffs.append(f"{cfg.image_size}x{cfg.image_size} inputs")
    if cfg.batch_norm:
        diffs.append("batch-norm VGG")
    if cfg.width != 1 or cfg.fc_width != 4096:
        diffs.append(f"VGG at {cfg.width:g} of the channels with a {cfg.fc_width}-wide head")
    if cfg.pretrained != "imagenet":
        diffs.append("weights pretrained on five CIFAR-10 classes instead of ImageNet")
    if cfg.large_input != 224:
        diffs.append(f"large input {cfg.large_input} instead of 224")
    if diffs:
        why.append("budget: " + ", ".join(diffs))
    return Comparison(data, not diffs, "; ".join(why))


# ---------------------------------------------------------------- the summary: figures, tables, findings, notes
def summarize(study, cfg, results: list[RunResult], out_dir: Path) -> Summary:
    s = Summary()
    skipped = study.skipped_variants(cfg)
    if skipped:
        where = ("the demo pack's vgg_demo_pretrained.pt is missing: rebuild it with "
                 "`python scripts/build_demo_pack.py --only vgg_pretrain`" if cfg.pretrained == "demo-cifar5" else
                 f"put {', '.join(weights_filename(a) for a in cfg.archs)} in a folder and pass "
                 "--set data.imagenet_weights_dir=FOLDER, or use --set imagenet=download where the internet is reachable")
        s.notes.append(f"Left out (no local pretrained weights and imagenet=if-available): {', '.join(skipped)}; "
                       f"{where}.")
    if not results:
        return s
    res = Results(results)
    demo = cfg.pretrained == "demo-cifar5"

    # ---- curves (Figures 1, 10, 11, 9/12): mean over seeds
    def curves(variants: list[str], name: str, title: str, only_val: bool = False) -> None:
        variants = [v for v in variants if v in res]
        if not variants:
            return
        fig, axes = new_figure(11 if not only_val else 6, 4, ncols=1 if only_val else 2)
        axes = [axes] if only_val else list(axes)
        keys = ["val_acc"] if only_val else ["train_acc", "val_acc"]
        for ax, key in zip(axes, keys):
            for v in variants:
                cs = list(res.curves(v, key).values())
                n = min((len(c) for c in cs), default=0)
                if n == 0:
                    continue
                y = np.mean([c[:n] for c in cs], axis=0)
                ax.plot(np.arange(1, n + 1), y, marker=".", color=f"C{INITS.index(study.parse(v)[1])}",
                        ls="-" if v.startswith("vgg16") else "--", label=f"{v} (n={len(cs)})")
            ax.set_xlabel("epoch")
            ax.xaxis.get_major_locator().set_params(integer=True)
            ax.set_ylabel(f"{'training' if key == 'train_acc' else 'validation'} accuracy (%)")
            ax.legend(fontsize=7)
        fig.suptitle(title, fontsize=10)
        s.figures.append(save(fig, out_dir, name))

    allv = study.variants(cfg)
    curves(allv, "fig1_accuracy_all.png", "T1.1 training and validation accuracy, mean over seeds "
           "(cf. reference Figure 1)")
    curves([v for v in allv if v.startswith("vgg16")], "fig10_vgg16.png", "T1.1 VGG-16 (cf. reference Figure 10)")
    curves([v for v in allv if v.startswith("vgg19")], "fig11_vgg19.png", "T1.1 VGG-19 (cf. reference Figure 11)")
    # Figure 9 as the reference's text uses it ("how the different models perform on the validation
    # set (fig. 9)"): the validation accuracy of every model (its caption says large inputs only)
    curves(allv, "fig9_validation_all.png", "T1.1 validation accuracy of every model, mean over seeds "
           "(cf. reference Figure 9)", only_val=True)
    large = [v for v in allv if v.endswith("frozen224")]
    curves(large, "fig12_large_input.png", "T1.1 large input (cf. reference Figure 12)")
    if not large:
        s.notes.append("Figure 12 (large inputs) needs the frozen224 variants, which did not run here.")

    # ---- Table 7 and Table 1 (the reference's variants only)
    timing = res.runs[0].json("timing")
    s.tables.extend(tables(res, cfg, study.label, timing))
    tuned = [v for v in res.variants if v.endswith("-tuned")]
    if tuned:
        s.notes.append("Ours (not in the reference's tables): " + "; ".join(
            describe(f"{v} test accuracy %", res.values(v, "test_acc")) for v in tuned) + ".")

    # ---- findings
    first = res.runs[0].metrics
    chance = float(first.get("chance_acc", 100.0 / max(1, int(first.get("n_classes", 1)))))
    s.findings.extend(decide(res, chance, demo=demo, epochs=cfg.epochs))

    pre = [(v, res.mean(v, "precompute_s"), res.mean(v, "train_s")) for v in res.variants
           if res.mean(v, "precompute_s") > 0]
    if pre:
        s.notes.append("Frozen variants computed the frozen part's output once per split, then trained only the "
                       "head: " + "; ".join(f"{v}: precompute {p:.1f} s, head training {t:.1f} s"
                                            for v, p, t in pre)
                       + ". `dltour bench vgg-transfer` estimates the saving against running the frozen part "
                         "every epoch.")
    s.notes.append("Protocol: the source's test split is our test set (for Tiny-ImageNet, the official val "
                   f"with labels from val_annotations.txt); {cfg.data.val_per_class} images per class held out of "
                   "train (a fixed permutation) = validation. Test accuracy is the final epoch's. Curve measures "
                   "(per run, from its history): validation accuracy after epoch 1; area under the validation "
                   "curve = its mean over epochs; smoothness = sd of the epoch-to-epoch changes of validation "
                   "accuracy; flatness = rise of training accuracy from epoch 1 to the last.")
    if demo:
        info = vgg_pretrain.pretrained_info()
        src = ", ".join(f"{a} {100 * info[a]['source_test_acc']:.1f}%" for a in vgg_pretrain.ARCHS if a in info)
        s.notes.append(f"Demo analogue of ImageNet transfer: the pretrained nets were trained at pack-build time "
                       f"on CIFAR-10 {', '.join(vgg_pretrain.SOURCE_CLASSES)} (source test accuracy "
                       f"{src or 'n/a'}) "
                       f"and are fine-tuned here on {', '.join(cfg.data.class_names or [])}; chance "
                       f"{chance:.1f}%, ln C = {math.log(100.0 / chance):.3f}. "
                       + describe("mean test loss over all runs", {i: r.metrics["test_loss"]
                                                                    for i, r in enumerate(res.runs)}) + ".")
    return s
