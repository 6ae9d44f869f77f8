"""Figure helpers over saved arrays; never called inside a training loop."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def new_figure(width: float = 7.0, height: float = 4.0, ncols: int = 1, nrows: int = 1, **kw):
    return plt.subplots(nrows, ncols, figsize=(width, height), **kw)


def save(fig, out_dir: Path, name: str) -> str:
    """Save ``fig`` as ``out_dir/name`` (PNG, 110 dpi) and return the file name. Written under a
    unique temporary name and renamed, so a report reading it never sees half a figure."""
    import io

    from dltour.fileio import atomic_write_bytes

    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, dpi=110, format=Path(name).suffix.lstrip(".") or "png")
    plt.close(fig)
    atomic_write_bytes(Path(out_dir) / name, buf.getvalue())
    return name


def band(ax, x, mean, std, label: str | None = None, **kw):
    """A mean line with a +-std band."""
    import numpy as np

    mean, std = np.asarray(mean), np.asarray(std)
    (line,) = ax.plot(x, mean, label=label, **kw)
    ax.fill_between(x, mean - std, mean + std, alpha=0.2, color=line.get_color())
    return line


def image_grid(rows, out_dir: Path, name: str, title: str = "", captions=None, cell: float = 1.1) -> str:
    """One figure of image rows, saved as ``out_dir/name``; returns the file name.

    ``rows``: ``[(label, images), ...]``, each ``images`` a uint8 array ``(k, H, W, 3)`` (colour) or
    ``(k, H, W)`` (gray); every row shows its first ``k`` images (the shortest row sets ``k``), the
    label left of the row. ``captions``: optional ``{row_index: [text per image]}`` printed under
    each image of that row (e.g. per-image MAE and colour variance).
    """
    import numpy as np

    captions = captions or {}
    k = min(len(imgs) for _, imgs in rows)
    extra = 0.35 * max((max(str(t).count("\n") + 1 for t in c) for c in captions.values()), default=0)
    fig, axes = new_figure(cell * k + 1.4, (cell + extra) * len(rows), ncols=k, nrows=len(rows), squeeze=False)
    for i, (label, imgs) in enumerate(rows):
        imgs = np.asarray(imgs)
        for j in range(k):
            ax = axes[i][j]
            ax.imshow(imgs[j], cmap="gray" if imgs.ndim == 3 else None, vmin=0, vmax=255, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if i in captions:
                ax.set_xlabel(str(captions[i][j]), fontsize=6)
        axes[i][0].set_ylabel(label, fontsize=7, rotation=0, ha="right", va="center")
    if title:
        fig.suptitle(title, fontsize=9)
    return save(fig, out_dir, name)
