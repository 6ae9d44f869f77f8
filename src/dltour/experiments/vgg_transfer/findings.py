"""What the runs of ``vgg-transfer`` mean (the study itself, what it trains and what a run returns, is
:mod:`dltour.experiments.vgg_transfer`): the reference's numbers (Table 7) and the claims' thresholds, the
decision of every finding (``decide``), Tables 7 and 1, Figures 1 and 9-12, the summary (``summarize``), and
whether a run is comparable with the reference (``comparison``). The study binds ``summarize``,
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

Decisions (issue 18): a claim about both architectures is decided per seed, on the mean over the
archs of that seed's runs (runs of one seed share its data order, so the seed is the independent
unit; n = seeds, never (arch, seed) pairs). Every reference finding declares its arms' per-epoch
validation (or, for R2 and R7, training) accuracy as its budget: a "does not hold" from runs
trained below the reference's 20 epochs whose curve was still rising (or peaked at the last epoch)
is inconclusive (``verdicts.budget_gate``).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from dltour.data import vgg_pretrain
from dltour.data.imagenet_weights import weights_filename
from dltour.data.tinyimagenet import TINY_IMAGENET, is_tinyimagenet
from dltour.plots import new_figure, save
from dltour.summary import Comparison, Declared, declare, Finding, Ref, RunResult, Summary, Table
from dltour.summary import Results
from dltour.verdicts import (Budget, Decision, all_of, compare, describe, did_not_learn, exceeds, fmt, gate,
                             not_checked)

#: the variants' axes: architectures and initialisations (the study's ``<arch>-<init>``)
ARCHS = ("vgg16", "vgg19")
INITS = ("random", "imagenet", "frozen", "frozen224", "tuned")
REFERENCE_INITS = ("random", "imagenet", "frozen", "frozen224")  # the reference's variants (not ``tuned``)
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

#: the study's findings, declared once (the decision code below supplies each one's decision)
FINDINGS = declare("T1.1", [
    Declared("jump-start",
             "Pretrained weights jump-start learning: higher validation accuracy after epoch 1 and over the whole "
             "curve than random init", "R1", "§1, Figure 1"),
    Declared("finetune-overfits",
             f"With all layers trainable the pretrained net overfits: almost 100% (>= {OVERFIT_THRESHOLD:g}%) "
             f"training accuracy", "R2", "§1, Figure 1"),
    Declared("frozen-smoother",
             "Training only the fully connected layers gives a smoother curve than training all layers", "R3",
             "§1, Figure 1"),
    Declared("random-unsatisfactory",
             "Random initialisation is unsatisfactory within the budget ({epochs} epochs): below both pretrained "
             "variants in test accuracy", "R5", "§1"),
    Declared("vgg16-ge-vgg19",
             "VGG-16 consistently outperforms VGG-19 (test accuracy, every reference initialisation)", "R6",
             "§1, Table 7"),
    Declared("frozen224-flatter",
             "The large-input model (only the last layer trainable) has a flatter learning curve than the "
             "frozen-conv 64-px model", "R7", "§1, Figures 1, 9, 12"),
    Declared("frozen224-ge-frozen",
             "Keeping the pretrained fc1/fc2 (large input, only the last layer trained) gives a higher test accuracy "
             "than the frozen-conv variant (Table 7: +0.8 / +0.9 points)", "R8", "Table 7"),
    Declared("{arch}-imagenet-gt-frozen-gt-random",
             "{arch}: pretrained (all trainable) > conv frozen > random init in test accuracy", "R9", "Table 7"),
    Declared("tuned-beats-faithful-random",
             "The random-init result is a recipe failure: batch-norm VGG with a schedule and augmentation beats the "
             "faithful random-init recipe"),
])

#: the study's ``reference``: Table 7's test accuracy and inference time per variant
reference = [r for v, (acc, us) in REF_TABLE7.items() for r in (
    Ref("Table 7", v, "test_acc", acc, "test accuracy, %"),
    Ref("Table 7", v, "infer_us", us, "us per image, batch size and GPU not stated"))]


def label(cfg, init: str) -> str:
    """The initialisation's name in the tables (the demo's pretrained nets are not ImageNet's)."""
    return (DEMO_LABEL if cfg.pretrained == "demo-cifar5" else INIT_LABEL)[init]


# ---------------------------------------------------------------- decisions (plain per-seed values in)
def per_seed(res: Results, init: str, metric: str, archs=ARCHS) -> dict[int, float]:
    """{seed: mean over ``archs`` of ``<arch>-<init>``'s value}: claims that "apply to both
    architectures" reduce the two archs' runs of one seed to one value first, since runs of one
    seed share its data order (and a frozen variant's head initialisation), so the seed is the
    independent unit. Seeds missing in an arch are left out."""
    vals = [res.values(f"{a}-{init}", metric) for a in archs]
    seeds = sorted(set.intersection(*(set(v) for v in vals))) if vals else []
    return {s: float(np.mean([v[s] for v in vals])) for s in seeds}


def _needs(res: Results, variants: list[str]) -> Decision | None:
    missing = [v for v in variants if v not in res]
    return not_checked(f"needs the variants {', '.join(missing)}, which did not run here") if missing else None


def _present_archs(res: Results, inits: tuple[str, ...]) -> list[str]:
    return [a for a in ARCHS if all(f"{a}-{i}" in res for i in inits)]


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
    """Every finding of the study from the runs' metrics (see ``run``'s curve metrics). Claims about
    both architectures are decided per seed (the mean over the archs of a seed's runs); every
    reference finding declares its arms' accuracy curves as its budget (``epochs`` of the
    reference's 20)."""
    analogue = ("demo analogue: 'imagenet' = nets pretrained on five other CIFAR-10 classes, not ImageNet"
                if demo else "")
    failed = did_not_learn(res.table("test_acc"), chance, "greater")
    out = []

    def seed_cmp(a_init, b_init, metric, direction, what, archs, unit):
        return compare(per_seed(res, a_init, metric, archs), per_seed(res, b_init, metric, archs), direction,
                       names=(a_init, b_init), unit=unit,
                       what=what + f"; per seed, the mean over {', '.join(archs)}")

    def budget(inits, key, archs):
        return budget_of(res, [f"{a}-{i}" for a in archs for i in inits], key, epochs)

    # R1 jump-start
    archs = _present_archs(res, ("imagenet", "random"))
    bud = None
    if archs:
        d = all_of([seed_cmp("imagenet", "random", "val_acc_epoch1", "greater",
                             "validation accuracy after epoch 1, %", archs, "validation accuracy, points"),
                    seed_cmp("imagenet", "random", "val_acc_auc", "greater",
                             "area under the validation-accuracy curve = its mean over epochs, %", archs,
                             "validation accuracy, points")],
                   labels=["after epoch 1", "area under the curve"])
        d = gate(d, failed, [f"{a}-imagenet" for a in archs])
        bud = budget(("imagenet", "random"), "val_acc", archs)
    else:
        d = _needs(res, ["vgg16-imagenet", "vgg16-random"])
    out.append(FINDINGS["jump-start"].of(d, evidence=analogue, budget=bud))

    # R2 overfits
    archs = _present_archs(res, ("imagenet",))
    bud = None
    if archs:
        d = exceeds(per_seed(res, "imagenet", "final_train_acc", archs), OVERFIT_THRESHOLD, "greater",
                    name="final training accuracy of the fully trainable pretrained nets", unit="training accuracy, %",
                    what=f"'almost 100%' read as >= {OVERFIT_THRESHOLD:g}%, after {epochs or '?'} epochs (the "
                         f"reference: 20); per seed, the mean over {', '.join(archs)}")
        d = gate(d, failed, [f"{a}-imagenet" for a in archs])
        bud = budget(("imagenet",), "train_acc", archs)
    else:
        d = _needs(res, ["vgg16-imagenet"])
    out.append(FINDINGS["finetune-overfits"].of(d, evidence=analogue, budget=bud))

    # R3 smoother
    archs = _present_archs(res, ("imagenet", "frozen"))
    bud = None
    if archs:
        d = seed_cmp("frozen", "imagenet", "val_acc_change_sd", "less",
                     "smoothness = sd of the epoch-to-epoch changes of validation accuracy (points); lower is "
                     "smoother", archs, "sd of validation-accuracy changes, points")
        d = gate(d, failed, [f"{a}-{i}" for a in archs for i in ("imagenet", "frozen")])
        bud = budget(("imagenet", "frozen"), "val_acc", archs)
    else:
        d = _needs(res, ["vgg16-imagenet", "vgg16-frozen"])
    out.append(FINDINGS["frozen-smoother"].of(d, evidence=analogue, budget=bud))

    # R5 random unsatisfactory
    archs = _present_archs(res, ("random", "imagenet", "frozen"))
    bud = None
    if archs:
        d = all_of([seed_cmp("random", "imagenet", "test_acc", "less", "test accuracy, %", archs, "test accuracy, %"),
                    seed_cmp("random", "frozen", "test_acc", "less", "test accuracy, %", archs, "test accuracy, %")],
                   labels=["random < pretrained (all trainable)", "random < pretrained (conv frozen)"])
        bud = budget(("random", "imagenet", "frozen"), "val_acc", archs)
    else:
        d = _needs(res, ["vgg16-random", "vgg16-imagenet", "vgg16-frozen"])
    out.append(FINDINGS["random-unsatisfactory"].of(
        d, evidence="; ".join(x for x in ("the explanation (~140M parameters need many more epochs) is not tested",
                                          analogue) if x),
        budget=bud, epochs=epochs or "?"))

    # R6 VGG-16 >= VGG-19, the reference's variants only
    inits = [i for i in REFERENCE_INITS if f"vgg16-{i}" in res and f"vgg19-{i}" in res]
    table7 = ("the reference's own Table 7 contradicts the claim for frozen (VGG-16 40.95% vs VGG-19 41.63%) and "
              "frozen224 (41.76% vs 42.49%); it holds there for random (3.82 vs 3.14) and imagenet (58.42 vs 54.30)")
    bud = None
    if inits:
        d = all_of([compare(res.values(f"vgg16-{i}", "test_acc"), res.values(f"vgg19-{i}", "test_acc"), "greater",
                            names=(f"vgg16-{i}", f"vgg19-{i}"), what="test accuracy, %", unit="test accuracy, %")
                    for i in inits], labels=inits)
        bud = budget(tuple(inits), "val_acc", list(ARCHS))
    else:
        d = not_checked("needs both archs with the same initialisation")
    out.append(FINDINGS["vgg16-ge-vgg19"].of(
        d, evidence="; ".join(x for x in (table7, "`tuned` (ours) is left out", analogue) if x), budget=bud))

    # R7 flatter (large input / fewer trainable parameters)
    archs = _present_archs(res, ("frozen", "frozen224"))
    what7 = ("flatness = rise of training accuracy from epoch 1 to the last epoch (points); lower is flatter")
    bud = None
    if archs:
        d = seed_cmp("frozen224", "frozen", "train_acc_rise", "less", what7, archs, "training-accuracy rise, points")
        d = gate(d, failed, [f"{a}-{i}" for a in archs for i in ("frozen", "frozen224")])
        bud = budget(("frozen", "frozen224"), "train_acc", archs)
    else:
        d = _needs(res, ["vgg16-frozen", "vgg16-frozen224"])
    ev7 = ("demo analogue: no input is upsampled; the variant keeps the pretrained fc1/fc2 frozen and trains only "
           "the last layer, so it checks the smaller trainable capacity the reference credits, not the larger input"
           if demo else "")
    out.append(FINDINGS["frozen224-flatter"].of(d, evidence=ev7, budget=bud))

    # R8 frozen224 >= frozen (Table 7)
    bud = None
    if archs:
        d = seed_cmp("frozen224", "frozen", "test_acc", "greater", "test accuracy, %", archs, "test accuracy, %")
        bud = budget(("frozen", "frozen224"), "val_acc", archs)
    else:
        d = _needs(res, ["vgg16-frozen", "vgg16-frozen224"])
    out.append(FINDINGS["frozen224-ge-frozen"].of(d, evidence=ev7, budget=bud))

    # R9 imagenet > frozen > random, per arch
    for a in ARCHS:
        vs = [f"{a}-imagenet", f"{a}-frozen", f"{a}-random"]
        bud = None
        if all(v in res for v in vs):
            d = all_of([compare(res.values(vs[0], "test_acc"), res.values(vs[1], "test_acc"), "greater",
                                names=(vs[0], vs[1]), what="test accuracy, %", unit="test accuracy, %"),
                        compare(res.values(vs[1], "test_acc"), res.values(vs[2], "test_acc"), "greater",
                                names=(vs[1], vs[2]), what="test accuracy, %", unit="test accuracy, %")],
                       labels=["imagenet > frozen", "frozen > random"])
            bud = budget_of(res, vs, "val_acc", epochs)
        elif any(v in res for v in vs):
            d = _needs(res, vs)
        else:
            continue
        out.append(FINDINGS["{arch}-imagenet-gt-frozen-gt-random"].of(d, evidence=analogue, budget=bud, arch=a))

    # ours: the random-init failure is the recipe's
    archs = _present_archs(res, ("tuned", "random"))
    if archs:
        d = seed_cmp("tuned", "random", "test_acc", "greater", f"test accuracy, % (chance {fmt(chance)}%)", archs,
                     "test accuracy, %")
    else:
        d = not_checked("needs the tuned and random variants (tuned is not run in the demo)")
    out.append(FINDINGS["tuned-beats-faithful-random"].of(d))
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
        diffs.append(f"{study._n_classes(cfg)} classes")
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
