"""dltour.device's copies that keep the host from waiting on the GPU."""

import pytest
import torch

from dltour.device import device_constant, to_device


def test_device_constant_is_made_once_per_device_and_dtype():
    a = device_constant((0.5, 0.25), "cpu")
    assert a is device_constant([0.5, 0.25], torch.device("cpu"))  # the same tensor: no copy per step
    assert a.tolist() == [0.5, 0.25] and a.dtype == torch.float32
    b = device_constant((0.5, 0.25), "cpu", torch.float64)
    assert b is not a and b.dtype == torch.float64


def test_to_device_on_the_cpu_is_a_plain_to():
    t = torch.arange(5)
    assert torch.equal(to_device(t, "cpu"), t) and to_device(t, torch.device("cpu")).device.type == "cpu"


@pytest.mark.skipif(not torch.cuda.is_available(),
                    reason="needs CUDA: checks that the copy does not make the host wait")
def test_to_device_does_not_synchronise_on_cuda():
    t = torch.arange(1000)
    before = torch.cuda.get_sync_debug_mode()
    torch.cuda.set_sync_debug_mode("error")  # any synchronising call raises
    try:
        y = to_device(t, "cuda")
        c = device_constant((1.0, 2.0, 3.0), "cuda")
    finally:
        torch.cuda.set_sync_debug_mode(before)
    assert torch.equal(y.cpu(), t) and c.tolist() == [1.0, 2.0, 3.0]
