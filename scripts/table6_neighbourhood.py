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
from dltour.verdicts import HOLDS, equivalent

TABLE6 = {"vae-z2": (4.42, 0.101), "vae-z20": (5.88, 0.041), "vae-z2-extra": (6.23, 0.091),
          "vae-z20-extra": (6.84, 0.043)}  # (IS, MAE)


def main(out: str, margin: float = 0.10) -> None:
    df = dltour.results(out)
    for variant, (ref_is, ref_mae) in TABLE6.items():
        runs = df[(df.study == "mnist-generative") & (df.variant == variant)].set_index("seed")
        if runs.empty:
            print(f"{variant}: no runs in {out}")
            continue
        verdicts = {}
        for col, ref in (("inception_score", ref_is), ("inception_score_mlp", ref_is), ("test_mae", ref_mae)):
            vals = runs[col].to_dict()
            d = equivalent(vals, {s: ref for s in vals}, margin * ref, names=(variant, "Table 6"))
            verdicts[col] = d.verdict
            print(f"{variant} {col}: {runs[col].mean():.4g} vs {ref} -> {d.verdict}; {d.test}")
        both = verdicts["inception_score"] == verdicts["inception_score_mlp"] == HOLDS
        print(f"{variant} IS under both judges: {'within' if both else 'not shown within'}")


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    main(sys.argv[1], *(float(a) for a in sys.argv[2:]))
