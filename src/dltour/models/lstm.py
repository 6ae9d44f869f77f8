"""Recurrent models."""

from __future__ import annotations

import torch
from torch import nn


class LSTMRegressor(nn.Module):
    """Window of past values -> next value: LSTM over the window, a linear head on the last step."""

    def __init__(self, hidden: int = 4, layers: int = 1, inputs: int = 1):
        super().__init__()
        self.lstm = nn.LSTM(inputs, hidden, num_layers=layers, batch_first=True)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, T, F) -> (B,)
        out, _ = self.lstm(x)  # (B, T, H)
        return self.head(out[:, -1]).squeeze(-1)
