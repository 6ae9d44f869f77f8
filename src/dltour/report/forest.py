"""The forest plot of the reference claims' effects: one row per finding with a standardised
effect (Hedges' g and its 95% CI, from ``Finding.stats``), drawn so that the direction the claim
predicts points right (a claim "A < B" has its g negated), coloured by verdict, with the
equivalence margin of a "no difference" finding drawn as a grey band in the same units (the margin
divided by the standard deviation behind g: ``margin * g / effect``)."""

from __future__ import annotations

import math
from pathlib import Path

CLIP = 10.0  # the x axis ends here; larger |g| (tiny spreads between runs) are written beside their arrow
COLOURS = {"holds": "#1b7a1b", "does not hold": "#b3171b", "inconclusive": "#b08900", "not checked": "#888888"}


def forest_rows(findings: list) -> tuple[list[dict], int]:
    """The plottable rows of ``findings`` (the report's annotated :class:`~dltour.summary.Finding`
    objects of reference claims; a finding's dict is read as one) and the number left out (no
    finite g with a CI: decided by a rate, a per-run correlation, a deterministic value or an
    earlier commit's rules)."""
    from dltour.summary import Finding
    from dltour.verdicts import finite_or_none

    rows, left = [], 0
    for f in findings:
        if isinstance(f, dict):
            f = Finding.from_dict(f)
        st = f.stats if isinstance(f.stats, dict) else {}
        g = finite_or_none(st.get("g"))
        ci = st.get("g_ci") or [None, None]
        lo, hi = finite_or_none(ci[0]), finite_or_none(ci[1])
        if g is None or lo is None or hi is None:
            left += 1
            continue
        eff, margin = finite_or_none(st.get("effect")), finite_or_none(st.get("margin"))
        verdict = f.verdict
        direction = st.get("direction")
        if not direction and margin is None and "direction" not in st and eff:
            # a summary written before decisions recorded their direction: a decided claim shows it
            # (holds: the effect's sign is the claimed one; does not hold: the opposite)
            pos = eff > 0
            direction = {"holds": "greater" if pos else "less",
                         "does not hold": "less" if pos else "greater"}.get(getattr(f, "verdict_unadjusted", verdict),
                                                                             "")
        sign = -1.0 if direction == "less" else 1.0
        g, lo, hi = sign * g, *sorted((sign * lo, sign * hi))
        band = abs(margin * g / (sign * eff)) if margin is not None and eff and g else None
        kind = "equivalence" if margin is not None else ("directed" if direction else "unknown")
        rows.append({"label": f"{f.ref} {f.id}", "g": g, "lo": lo, "hi": hi, "band": band,
                     "verdict": verdict, "kind": kind})
    return rows, left


def forest_plot(rows: list[dict], out_dir: Path, name: str, title: str) -> str | None:
    """Draw ``rows`` (from :func:`forest_rows`) as ``out_dir/name``; None when there are none."""
    if not rows:
        return None
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    from dltour.plots import new_figure, save

    h = 1.2 + 0.28 * len(rows)
    fig, ax = new_figure(9.0, h)
    lim = max(3.0, max(max(abs(r["lo"]), abs(r["hi"]), r["band"] or 0) for r in rows))
    lim = min(lim, CLIP)
    markers = {"directed": "o", "equivalence": "D", "unknown": "s"}
    for i, r in enumerate(reversed(rows)):
        c = COLOURS.get(r["verdict"], "#888888")
        if r["band"]:
            b = min(r["band"], lim)
            ax.fill_betweenx([i - 0.35, i + 0.35], -b, b, color="#cccccc", alpha=0.7, lw=0)
        lo, hi = max(r["lo"], -lim), min(r["hi"], lim)
        ax.plot([lo, hi], [i, i], color=c, lw=1.6)
        ax.plot([min(max(r["g"], -lim), lim)], [i], marker=markers[r["kind"]], color=c, ms=5,
                mfc="white" if r["kind"] == "unknown" else c)
        for edge, clipped in ((-lim, r["lo"] < -lim), (lim, r["hi"] > lim)):
            if clipped:
                ax.annotate("", xy=(edge, i), xytext=(edge - math.copysign(0.05 * lim, edge), i),
                            arrowprops={"arrowstyle": "->", "color": c})
        if abs(r["g"]) > lim:
            ax.text(math.copysign(lim * 0.97, r["g"]), i + 0.25, f"g = {r['g']:.3g}", fontsize=6, color=c,
                    ha="right" if r["g"] > 0 else "left", va="bottom")
    ax.axvline(0, color="#333333", lw=0.8)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([r["label"] for r in reversed(rows)], fontsize=7)
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.set_xlim(-lim * 1.05, lim * 1.05)
    ax.set_xlabel(f"Hedges' g with its 95% CI, drawn to ±{lim:g} (right: the direction the claim predicts;\n diamond: a "
                  "no-difference claim, grey band: its margin; open square: direction not recorded)", fontsize=7)
    ax.set_title(title, fontsize=10)
    handles = [Line2D([], [], color=c, marker="o", lw=1.6, label=v) for v, c in COLOURS.items() if v != "not checked"]
    handles.append(Patch(color="#cccccc", label="equivalence margin"))
    ax.legend(handles=handles, fontsize=7, loc="lower right", framealpha=0.9)
    return save(fig, Path(out_dir), name)
