"""Every study's model, for every variant of the `full` profile (the reference's models): one
forward and backward pass on a tiny synthetic batch, through the study's own training step,
gives a finite loss and gradients (the pattern timm's and torchvision's model tests use)."""

import math

import pytest
import torch

from dltour.config import resolve_config
from dltour.registry import all_studies

CASES = [(s.name, v) for s in all_studies() for v in s.variants(resolve_config(s, "full"))]


@pytest.mark.parametrize("study, variant", CASES, ids=[f"{s}-{v}" for s, v in CASES])
def test_full_model_forward_backward(study, variant):
    from dltour.registry import get_study

    st = get_study(study)
    cfg = resolve_config(st, "full")
    torch.manual_seed(0)
    model = st.build_model(cfg, variant)
    loss = st.check_model(cfg, variant)
    if model is None:
        assert loss is None, f"{study} has no model but check_model returned a loss"
        return
    assert loss is not None, f"{study} builds a model but has no check_model"
    assert math.isfinite(loss), f"{study}/{variant}: loss {loss}"
