"""Figure helpers over saved arrays; never called inside a training loop."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def new_figure(width: float = 7.0, height: float = 4.0, ncols: int = 1, nrows: int = 1, **kw):
    return plt.subplots(nrows, ncols, figsize=(width, height), **kw)


def save(fig, out_dir: Path, name: str) -> str:
    """Save ``fig`` as ``out_dir/name`` (PNG, 110 dpi) and return the file name."""
    out_dir.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out_dir / name, dpi=110)
    plt.close(fig)
    return name


def band(ax, x, mean, std, label: str | None = None, **kw):
    """A mean line with a +-std band."""
    import numpy as np

    mean, std = np.asarray(mean), np.asarray(std)
    (line,) = ax.plot(x, mean, label=label, **kw)
    ax.fill_between(x, mean - std, mean + std, alpha=0.2, color=line.get_color())
    return line
