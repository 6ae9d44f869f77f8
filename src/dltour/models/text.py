"""Text models: a bidirectional-LSTM sentiment classifier over word embeddings and a character
LSTM language model with temperature sampling."""

from __future__ import annotations

import contextlib

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence


class BiLSTMClassifier(nn.Module):
    """Embedding(V, D) -> BiLSTM(units) -> Linear(2 * units, 1) on the two final hidden states.

    Sequences are packed by length, so the final states are those of each review's last real
    token (not of the padding) and the LSTM does no work on padding (cuDNN runs packed input).
    """

    def __init__(self, vocab_size: int, embed_dim: int = 300, units: int = 100,
                 init: np.ndarray | None = None, freeze: bool = False, init_range: float = 0.05):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
        with torch.no_grad():
            if init is None:  # Keras' default "uniform" initializer: U(-0.05, 0.05)
                self.embedding.weight.uniform_(-init_range, init_range)
            else:
                if init.shape != (vocab_size, embed_dim):
                    raise ValueError(f"init matrix {init.shape} != ({vocab_size}, {embed_dim})")
                self.embedding.weight.copy_(torch.as_tensor(init))
            self.embedding.weight[0].zero_()
        self.embedding.weight.requires_grad_(not freeze)
        self.lstm = nn.LSTM(embed_dim, units, batch_first=True, bidirectional=True)
        self.head = nn.Linear(2 * units, 1)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        # ids: (B, T) int64, lengths: (B,) -> logits (B,)
        x = self.embedding(ids)  # (B, T, D)
        lengths = lengths.cpu()  # packing reads them on the host (pass them there: no copy back from the GPU)
        # a batch already in descending length order (length-bucketed batches are) packs as it is;
        # otherwise packing sorts it, and moving the sort's index to the GPU makes the host wait
        ordered = bool((lengths[:-1] >= lengths[1:]).all())
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=ordered)
        _, (h, _) = self.lstm(packed)  # h: (2, B, units): forward final, backward final
        return self.head(torch.cat([h[0], h[1]], dim=1)).squeeze(-1)


class CharLSTM(nn.Module):
    """Embedding(V, embed) -> LSTM(hidden, layers) -> Linear(hidden, V): next-character logits."""

    def __init__(self, vocab_size: int, embed: int = 64, hidden: int = 256, layers: int = 1, dropout: float = 0.0):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed)
        self.lstm = nn.LSTM(embed, hidden, num_layers=layers, batch_first=True,
                            dropout=dropout if layers > 1 else 0.0)
        self.head = nn.Linear(hidden, vocab_size)

    def forward(self, x: torch.Tensor, state=None):
        # x: (B, T) int64 -> logits (B, T, V), new state
        out, state = self.lstm(self.embedding(x), state)
        return self.head(out), state


def sample_index(logits: torch.Tensor, temperature: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """One index per row of ``logits`` (B, V): argmax at temperature 0 (greedy), else a draw from
    softmax(logits / temperature)."""
    if temperature < 0:
        raise ValueError("temperature must be >= 0")
    if temperature == 0:
        return logits.argmax(dim=-1)
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


@torch.no_grad()
def generate(model: CharLSTM, prompts: torch.Tensor, length: int, temperature: float,
             generator: torch.Generator | None = None) -> torch.Tensor:
    """Continue each prompt (B, P) by ``length`` characters: (B, length) int64 ids."""
    model.eval()
    logits, state = model(prompts)
    nxt = sample_index(logits[:, -1], temperature, generator)
    out = [nxt]
    for _ in range(length - 1):
        logits, state = model(nxt[:, None], state)
        nxt = sample_index(logits[:, -1], temperature, generator)
        out.append(nxt)
    return torch.stack(out, dim=1)


@contextlib.contextmanager
def single_thread(device: torch.device | str, enabled: bool = True):
    """One intra-op thread on the CPU for the duration (restored after): these models are tiny, so
    a second thread only adds synchronisation, and on a busy machine OpenMP threads spin (measured
    here: a 3-seed char-textgen demo took 236 s of CPU with 2 threads under load, about 10x the
    single-threaded time). No effect on other devices, or when ``enabled`` is False (a large model)."""
    if not enabled or torch.device(device).type != "cpu":
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
