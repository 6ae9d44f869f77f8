"""Map a continuous CartPole observation to one integer state index for a Q-table.

Each variable ``i`` gets ``bins[i]`` equal-width bins over its clipping range
``[low[i], high[i]]``. A value ``v`` falls in bin ``k`` when ``edge_k <= v < edge_{k+1}``
(left-closed), where ``edge_k = low + k * (high - low) / bins``; values below ``low`` go to bin 0
and values at or above the last inner edge (including everything beyond ``high``) go to the last
bin, so clipping is implicit. A variable with one bin is ignored. The state index is the
row-major (C-order) flattening of the per-variable bins: ``np.ravel_multi_index(bins_idx, bins)``.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field

import numpy as np

from dltour.errors import DltourError


@dataclass
class Discretiser:
    bins: tuple[int, ...]
    low: tuple[float, ...]
    high: tuple[float, ...]
    edges: list[list[float]] = field(init=False, repr=False)  # inner edges per variable
    strides: list[int] = field(init=False, repr=False)
    _active: list[tuple[int, list[float], int]] = field(init=False, repr=False)  # (variable, edges, stride)

    def __post_init__(self):
        self.bins = tuple(int(b) for b in self.bins)
        self.low = tuple(float(v) for v in self.low)
        self.high = tuple(float(v) for v in self.high)
        if not (len(self.bins) == len(self.low) == len(self.high)):
            raise DltourError(f"bins, low and high need one entry per state variable; got "
                              f"{len(self.bins)}, {len(self.low)}, {len(self.high)}")
        for i, (b, lo, hi) in enumerate(zip(self.bins, self.low, self.high)):
            if b < 1:
                raise DltourError(f"bins[{i}] = {b}: every variable needs at least 1 bin")
            if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
                raise DltourError(f"clip range of variable {i} must be finite with low < high; got [{lo}, {hi}]")
        self.edges = [[lo + k * (hi - lo) / b for k in range(1, b)]
                      for b, lo, hi in zip(self.bins, self.low, self.high)]
        # row-major strides: the last variable changes fastest
        self.strides = [int(np.prod(self.bins[i + 1:], dtype=np.int64)) for i in range(len(self.bins))]
        # variables with one bin never change the index: the hot path skips them
        self._active = [(i, e, st) for i, (e, st) in enumerate(zip(self.edges, self.strides)) if e]

    @property
    def n_states(self) -> int:
        return int(np.prod(self.bins, dtype=np.int64))

    def bin_indices(self, obs) -> tuple[int, ...]:
        """Per-variable bin of one observation."""
        if len(obs) != len(self.bins):
            raise DltourError(f"observation has {len(obs)} variables, the discretiser {len(self.bins)}")
        return tuple(bisect.bisect_right(e, float(v)) for e, v in zip(self.edges, obs))

    def indexer(self):
        """``index`` as a closure specialised to the active variables (the agents' hot loop: no
        loop over variables, no attribute lookups); the same value as ``index`` (tested)."""
        act = self._active
        br = bisect.bisect_right
        if len(act) == 1:
            (i0, e0, s0), = act
            return lambda obs: s0 * br(e0, obs[i0])
        if len(act) == 2:
            (i0, e0, s0), (i1, e1, s1) = act
            return lambda obs: s0 * br(e0, obs[i0]) + s1 * br(e1, obs[i1])
        return self.index

    def index(self, obs) -> int:
        """Flat state index of one observation (the hot path: plain Python, no arrays)."""
        s = 0
        for i, e, stride in self._active:
            s += stride * bisect.bisect_right(e, obs[i])
        return s
