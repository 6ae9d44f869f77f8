"""The one place that seeds every random number generator.

On the CPU, the same seed gives bit-identical metrics (tested in ``tests/test_runs.py``).
On CUDA, cuDNN autotuning (``benchmark=True``) is on by default because the deterministic algorithms
are slower (VGG convolutions especially); set ``DLTOUR_DETERMINISTIC=1`` to trade speed for
run-to-run identical GPU results.
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch


def seed_everything(seed: int, deterministic: bool | None = None) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    if deterministic is None:
        deterministic = os.environ.get("DLTOUR_DETERMINISTIC", "0") not in ("", "0", "false")
    torch.backends.cudnn.benchmark = not deterministic
    torch.backends.cudnn.deterministic = deterministic


def rng_state() -> dict:
    """Everything needed to continue a random stream exactly (saved in checkpoints), as tensors and
    plain types, so a checkpoint loads with ``weights_only=True``."""
    kind, key, pos, has_gauss, gauss = np.random.get_state()
    state = {"python": random.getstate(), "numpy": (kind, key.tolist(), int(pos), int(has_gauss), float(gauss)),
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, key, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, np.asarray(key, dtype=np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def generator(seed: int, *salt: int) -> torch.Generator:
    """A CPU generator for one purpose (e.g. the shuffling of one epoch), independent of others."""
    g = torch.Generator()
    g.manual_seed(hash((seed,) + tuple(salt)) % (2**63))
    return g
