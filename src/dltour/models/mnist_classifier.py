"""The MNIST classifiers that score generated digits (Inception Score on MNIST): two judges.

The ImageNet Inception network knows nothing of digits, so the lab scores MNIST generators with
small classifiers trained once on the 60k training digits (by the pack-building script,
``scripts/build_demo_pack.py``: ``train_classifier``) and shipped, pinned by sha256, in the demo
pack (read by ``dltour.data.mnist.load_judge_weights``; ``load_judge`` here builds the network). An Inception Score depends on the classifier that
scores it, so there are two judges of different architectures, trained independently (different
seeds, different inductive biases): ``MnistCNN`` (judge 1, convolutional, 29k parameters) and
``MnistMLP`` (judge 2, fully connected, no convolution). T4.1 reports the score under both and
decides an IS claim only where both agree.
"""

from __future__ import annotations

import torch
from torch import nn


class MnistCNN(nn.Module):
    """(B, 1, 28, 28) in [0, 1] -> (B, 10) logits: three 3x3 conv blocks (16, 32, 64 channels,
    BatchNorm, ReLU, 2x2 max-pool: 28 -> 14 -> 7 -> 3) and a linear head on the 64x3x3 map."""

    def __init__(self):
        super().__init__()

        def block(cin, cout):
            return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(), nn.MaxPool2d(2)]

        self.features = nn.Sequential(*block(1, 16), *block(16, 32), *block(32, 64))
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(0.25), nn.Linear(64 * 3 * 3, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2:  # (B, 784) flat images -> (B, 1, 28, 28)
            x = x.view(-1, 1, 28, 28)
        return self.head(self.features(x))


class MnistMLP(nn.Module):
    """(B, 784) or (B, 1, 28, 28) in [0, 1] -> (B, 10) logits: a fully connected judge,
    784 -> 512 -> 512 -> 10 with ReLU and dropout 0.2 (no convolution, no BatchNorm: it shares
    no inductive bias with ``MnistCNN``)."""

    def __init__(self, hidden: int = 512, dropout: float = 0.2):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(784, hidden), nn.ReLU(), nn.Dropout(dropout),
                                 nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.reshape(-1, 784))


ARCHITECTURES = {"MnistCNN": MnistCNN, "MnistMLP": MnistMLP}
#: the two Inception-Score judges: judge 1 ("cnn") and judge 2 ("mlp")
JUDGES = {"cnn": MnistCNN, "mlp": MnistMLP}


def load_judge(judge: str, state_dict: dict) -> nn.Module:
    """Judge ``judge`` (``"cnn"`` or ``"mlp"``) holding ``state_dict`` (e.g. from
    ``dltour.data.mnist.load_judge_weights``), in eval mode on the CPU."""
    if judge not in JUDGES:
        raise ValueError(f"unknown judge {judge!r}: {', '.join(JUDGES)}")
    model = JUDGES[judge]()
    model.load_state_dict(state_dict)
    return model.eval()


@torch.no_grad()
def predict_proba(model: nn.Module, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Softmax class probabilities (N, 10) for images (N, 784) or (N, 1, 28, 28) in [0, 1]."""
    model.eval()
    dev = next(model.parameters()).device
    out = [torch.softmax(model(images[i:i + batch_size].to(dev).float()), dim=1).cpu()
           for i in range(0, len(images), batch_size)]
    return torch.cat(out) if out else torch.zeros(0, 10)
