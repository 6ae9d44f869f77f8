"""One place that picks the device, the precision (autocast dtype) and memory format.

``--precision``: ``auto`` is bf16 autocast on CUDA (where the GPU supports bf16) and fp32
elsewhere; ``fp32`` turns autocast off everywhere; ``bf16`` asks for bf16 autocast on any device
(on the CPU it is slower and only useful to check numerics).
"""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass

import torch

from dltour.errors import DltourError

DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("auto", "fp32", "bf16")


@dataclass(frozen=True)
class DeviceInfo:
    device: torch.device
    amp_dtype: torch.dtype | None  # None: full fp32

    @property
    def name(self) -> str:
        if self.device.type == "cuda":
            return f"cuda ({torch.cuda.get_device_name(self.device)})"
        return self.device.type

    @property
    def precision(self) -> str:
        """``fp32`` or ``bf16`` (autocast): what ``--precision`` resolved to."""
        return "fp32" if self.amp_dtype is None else {torch.bfloat16: "bf16", torch.float16: "fp16"}[self.amp_dtype]

    @property
    def dtype_name(self) -> str:
        return "float32" if self.amp_dtype is None else str(self.amp_dtype).replace("torch.", "") + " autocast"

    def with_precision(self, precision: str) -> "DeviceInfo":
        """The same device at another precision (e.g. to time fp32 beside bf16)."""
        return DeviceInfo(self.device, _amp_dtype(self.device, precision))

    def autocast(self, enabled: bool = True):
        """Mixed precision as ``--precision`` chose: bf16 autocast, or nothing (fp32)."""
        if self.amp_dtype is None or not enabled:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        elif self.device.type == "mps":
            torch.mps.synchronize()


def to_device(t: torch.Tensor, device: torch.device | str) -> torch.Tensor:
    """``t.to(device)`` that does not make the host wait for the GPU.

    A copy from pageable host memory to CUDA (``t.to("cuda")``, ``torch.tensor(..., device="cuda")``)
    synchronises the stream: the CPU waits until every kernel already queued has finished, so the
    GPU then idles while Python prepares the next step. Staged through pinned memory with
    ``non_blocking=True`` the host runs ahead (PyTorch's caching host allocator keeps the pinned
    source alive until the copy has run). Any other device pair is a plain ``.to``.
    """
    device = torch.device(device)
    if device.type == "cuda" and t.device.type == "cpu":
        return t.pin_memory().to(device, non_blocking=True)
    return t.to(device)


@functools.lru_cache(maxsize=64)
def _constant(values: tuple, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    return to_device(torch.tensor(values, dtype=dtype), device)


def device_constant(values, device: torch.device | str, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A small constant tensor (e.g. normalisation means) made on ``device`` once and reused, instead
    of a host-to-device copy on every training step. Do not modify it in place."""
    return _constant(tuple(values), torch.device(device), dtype)


def _mps_available() -> bool:
    return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())


def _amp_dtype(dev: torch.device, precision: str) -> torch.dtype | None:
    if precision not in PRECISIONS:
        raise DltourError(f"unknown precision {precision!r}: choose one of {', '.join(PRECISIONS)}")
    if precision == "fp32":
        return None
    if precision == "auto":
        return torch.bfloat16 if dev.type == "cuda" and torch.cuda.is_bf16_supported() else None
    if dev.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise DltourError("--precision bf16: this GPU does not support bfloat16; use --precision fp32 or auto")
    return torch.bfloat16


def resolve_device(name: str = "auto", precision: str = "auto") -> DeviceInfo:
    if name not in DEVICES:
        raise DltourError(f"unknown device {name!r}: choose one of {', '.join(DEVICES)}")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "mps" if _mps_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise DltourError("device 'cuda' is not available on this machine (torch.cuda.is_available() is False); use --device cpu or auto")
    if name == "mps" and not _mps_available():
        raise DltourError("device 'mps' is not available on this machine; use --device cpu or auto")
    dev = torch.device(name)
    return DeviceInfo(dev, _amp_dtype(dev, precision))
