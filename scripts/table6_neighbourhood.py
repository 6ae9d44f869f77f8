"""Is each VAE of T4.1 within its reference value's neighbourhood (Table 6)? Issue 13's target.

    python scripts/table6_neighbourhood.py OUT [MARGIN]

OUT: a run store (``--out``) holding the four VAEs of ``dltour run mnist-generative``. For each
VAE, its Inception Score under both judges and its test MAE are compared with Table 6's value by
two one-sided tests paired over the seeds (``dltour.verdicts.equivalent``, margin MARGIN times the
reference value, default 0.10, as airline's R13). An IS is within only where both judges say so.
"""

from __future__ import annotations

import sys

import dltour
from dltour.experiments.mnist_generative.findings import VAES
from dltour.registry import get_study
from dltour.verdicts import HOLDS, near_reference


def table6() -> dict[str, tuple[float, float]]:
    """variant -> (Table 6 IS, Table 6 MAE), from the study's own reference values."""
    ref = {(r.variant, r.metric): r.value for r in get_study("mnist-generative").reference}
    return {v: (ref[v, "inception_score"], ref[v, "test_mae"]) for v in VAES}


def main(out: str, margin: float = 0.10) -> None:
    df = dltour.results(out)
    for variant, (ref_is, ref_mae) in table6().items():
        runs = df[(df.study == "mnist-generative") & (df.variant == variant)].set_index("seed")
        if runs.empty:
            print(f"{variant}: no runs in {out}")
            continue
        verdicts = {}
        for col, ref in (("inception_score", ref_is), ("inception_score_mlp", ref_is), ("test_mae", ref_mae)):
            vals = runs[col].to_dict()
            d = near_reference(vals, ref, margin, name=variant)
            verdicts[col] = d.verdict
            print(f"{variant} {col}: {runs[col].mean():.4g} vs {ref} -> {d.verdict}; {d.test}")
        both = verdicts["inception_score"] == verdicts["inception_score_mlp"] == HOLDS
        print(f"{variant} IS under both judges: {'within' if both else 'not shown within'}")


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    main(sys.argv[1], *(float(a) for a in sys.argv[2:]))
