"""The MNIST classifiers that score generated digits (Inception Score on MNIST): two judges.

The ImageNet Inception network knows nothing of digits, so the lab scores MNIST generators with
small classifiers trained once on the 60k training digits (``dltour.data.mnist.build_demo``) and
shipped, pinned by sha256, in the demo pack. An Inception Score depends on the classifier that
scores it, so there are two judges of different architectures, trained independently (different
seeds, different inductive biases): ``MnistCNN`` (judge 1, convolutional, 29k parameters) and
``MnistMLP`` (judge 2, fully connected, no convolution). T4.1 reports the score under both and
decides an IS claim only where both agree.
"""

from __future__ import annotations

import time

import numpy as np
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


@torch.no_grad()
def predict_proba(model: nn.Module, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Softmax class probabilities (N, 10) for images (N, 784) or (N, 1, 28, 28) in [0, 1]."""
    model.eval()
    dev = next(model.parameters()).device
    out = [torch.softmax(model(images[i:i + batch_size].to(dev).float()), dim=1).cpu()
           for i in range(0, len(images), batch_size)]
    return torch.cat(out) if out else torch.zeros(0, 10)


def train_classifier(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray,
                     epochs: int = 6, batch_size: int = 128, lr: float = 3e-3, architecture: str = "MnistCNN",
                     seed: int = 0, shift: int = 2) -> tuple[nn.Module, dict]:
    """Train ``architecture`` (``MnistCNN`` or ``MnistMLP``) on uint8 images (N, 28, 28): Adam with
    a one-cycle schedule, small random shifts (+-2 px) as augmentation, weights and batch order from
    ``seed``; return the model (eval mode) and its test accuracy (the test digits are only
    measured, never used to choose anything)."""
    X = torch.from_numpy(train_x).float().div_(255).unsqueeze(1)  # (N, 1, 28, 28)
    Y = torch.from_numpy(train_y.astype(np.int64))
    Xt = torch.from_numpy(test_x).float().div_(255).unsqueeze(1)
    torch.manual_seed(seed)
    model = ARCHITECTURES[architecture]()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    steps = epochs * ((len(X) + batch_size - 1) // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    g = torch.Generator().manual_seed(seed)
    t0 = time.perf_counter()
    for epoch in range(epochs):
        model.train()
        perm = torch.randperm(len(X), generator=g)
        for i in range(0, len(X), batch_size):
            idx = perm[i:i + batch_size]
            xb = X[idx]
            if shift:
                dx, dy = torch.randint(-shift, shift + 1, (2,), generator=g).tolist()  # one shift per batch
                xb = torch.roll(xb, shifts=(dx, dy), dims=(2, 3))
            opt.zero_grad(set_to_none=True)
            nn.functional.cross_entropy(model(xb), Y[idx]).backward()
            opt.step()
            sched.step()
        acc = float((predict_proba(model, Xt).argmax(1).numpy() == test_y).mean())
        print(f"classifier epoch {epoch + 1}/{epochs}: test accuracy {acc:.4f} ({time.perf_counter() - t0:.0f} s)")
    model.eval()
    n_params = sum(p.numel() for p in model.parameters())
    return model, {"architecture": architecture, "seed": seed, "shift_augmentation": shift, "lr": lr, "params": n_params, "epochs": epochs, "train_images": len(X),
                   "test_images": len(Xt), "test_accuracy": acc, "seconds": round(time.perf_counter() - t0, 1)}
