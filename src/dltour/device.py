"""One place that picks the device, the autocast dtype and memory format."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

from dltour import DltourError

DEVICES = ("auto", "cpu", "cuda", "mps")


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
    def dtype_name(self) -> str:
        return "float32" if self.amp_dtype is None else str(self.amp_dtype).replace("torch.", "") + " autocast"

    def autocast(self, enabled: bool = True):
        """Mixed precision where it is safe: bf16 autocast on CUDA, nothing elsewhere."""
        if self.amp_dtype is None or not enabled:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        elif self.device.type == "mps":
            torch.mps.synchronize()


def _mps_available() -> bool:
    return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())


def resolve_device(name: str = "auto", amp: bool = True) -> DeviceInfo:
    if name not in DEVICES:
        raise DltourError(f"unknown device {name!r}: choose one of {', '.join(DEVICES)}")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "mps" if _mps_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise DltourError("device 'cuda' is not available on this machine (torch.cuda.is_available() is False); use --device cpu or auto")
    if name == "mps" and not _mps_available():
        raise DltourError("device 'mps' is not available on this machine; use --device cpu or auto")
    dev = torch.device(name)
    amp_dtype = None
    if amp and dev.type == "cuda" and torch.cuda.is_bf16_supported():
        amp_dtype = torch.bfloat16
    return DeviceInfo(dev, amp_dtype)
