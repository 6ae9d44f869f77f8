"""``ar-window``: a new study of the airline kind in one file, the way to start one's own (issue 20:
"a new study of the airline kind under 300 lines in all").

A linear autoregression (one ``nn.Linear`` over the last ``w`` months, trained with Adam) forecasts
next month's airline passengers for each window ``w``, beside the seasonal-naive forecast of the
same months. It is not one of the reference's studies, so ``dltour reproduce`` never runs it; it is
registered only when this file is imported. Run it as the CLI::

    python examples/ar_window.py run ar-window --profile smoke --out OUT
    python examples/ar_window.py run ar-window --out OUT      # demo: windows 1, 3, 12, 5 seeds
    python examples/ar_window.py report --out OUT

What it shows, part by part (the same parts a package under ``dltour/experiments/`` splits into
``science.py``, ``findings.py`` and ``__init__.py``): the config (pydantic, each field with its
docstring), the data (the shared ``dltour.data.airline``), the model, the loss and one training step,
``trainer`` (what ``dltour bench`` times) and ``run`` (what a run returns); then the findings declared
as data with a rule of ``dltour.rules`` (no decision code), the table and the figure; then the study's
declarations. Assumed where nothing is stated (it is an example): the first 67% of the months train,
min-max scaling fitted on them, full-batch Adam.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import numpy as np
import torch
from pydantic import Field

from dltour import rules as R
from dltour.bench import Trainer
from dltour.config import StudyConfig
from dltour.data import airline
from dltour.data.airline import AirlineData
from dltour.metrics.regression import rmse
from dltour.plots import new_figure, save
from dltour.registry import Study, register
from dltour.summary import Declared, Results, Summary, Table, decide_declared, declare
from dltour.train import fit, iterate_minibatches
from dltour.train.optim import adam


# ================================================================ the science
class Config(StudyConfig):
    data: AirlineData = Field(default_factory=AirlineData)
    """Where the monthly series comes from (the embedded AirPassengers by default)."""
    windows: list[Annotated[int, Field(ge=1, le=24)]] = Field(default_factory=lambda: [1, 3, 12], min_length=1)
    """Months of history the model reads; one variant ``w<N>`` each (1..24)."""
    train_fraction: float = Field(0.67, gt=0.3, lt=0.95)
    """Share of the months used for training (the rest is the test part)."""
    epochs: int = Field(300, ge=1)
    """Full-batch Adam steps (one per epoch)."""
    lr: float = Field(3e-2, gt=0)
    """Adam learning rate."""


def train_step(model: torch.nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """One Adam step on the mean squared error of the scaled forecasts; returns the detached loss."""
    opt.zero_grad(set_to_none=True)
    loss = torch.nn.functional.mse_loss(model(x).squeeze(-1), t)
    loss.backward()
    opt.step()
    return loss.detach()


class Science(Study):
    Config = Config

    def build_model(self, cfg: Config, variant: str) -> torch.nn.Module:
        return torch.nn.Linear(int(variant[1:]), 1)

    def _scaled(self, cfg: Config) -> tuple[np.ndarray, np.ndarray, int, float, float]:
        """(counts, min-max scaled counts, first test month, lo, hi), scaled on the training months."""
        _, y = airline.series_for(cfg.data)
        n_train = int(len(y) * cfg.train_fraction)
        lo, hi = float(y[:n_train].min()), float(y[:n_train].max())
        return y, (y - lo) / (hi - lo), n_train, lo, hi

    def trainer(self, cfg: Config, variant: str, seed: int, device) -> Trainer:
        """The window's model and its Adam, trained full-batch on the training months' windows."""
        w, dev = int(variant[1:]), device.device
        _, z, n_train, _, _ = self._scaled(cfg)
        x, t = (torch.tensor(a, dtype=torch.float32, device=dev) for a in airline.windows(z[:n_train], w))
        model = self.build_model(cfg, variant).to(dev)
        opt = adam(model.parameters(), cfg.lr, dev)

        def epoch_batches(epoch: int):
            for idx in iterate_minibatches(len(x), len(x), seed, epoch, device=dev):
                yield x[idx], t[idx]

        return Trainer(lambda xb, tb: train_step(model, opt, xb, tb), epoch_batches, len(x), modules=(model,),
                       state={"model": model, "opt": opt})

    def run(self, cfg: Config, variant: str, seed: int, ctx) -> dict[str, float]:
        w = int(variant[1:])
        y, z, n_train, lo, hi = self._scaled(cfg)
        tr = self.trainer(cfg, variant, seed, ctx.device)
        model = tr.state["model"]

        def train_epoch(epoch: int) -> dict:
            return {"train_loss": float(sum(tr.step(xb, tb) for xb, tb in tr.epoch_batches(epoch)))}

        fit(ctx, {"model": model, "opt": tr.state["opt"]}, cfg.epochs, train_epoch, checkpoint_every=100)
        start = n_train + 12  # every window is scored on the same test months (those a year-ago month exists for)
        x_te, _ = airline.windows(z[start - w:], w)
        with torch.no_grad():
            pred = model(torch.tensor(x_te, dtype=torch.float32, device=ctx.device.device)).squeeze(-1)
        pred = pred.cpu().numpy().astype(np.float64) * (hi - lo) + lo
        ctx.save_arrays(pred=pred, true=y[start:])
        return {"test_rmse": rmse(y[start:], pred), "naive_rmse": rmse(y[start:], airline.seasonal_naive(y, start)),
                "window": w}


# ================================================================ what the runs mean
FINDINGS = declare("T6.1", [
    Declared("x-year-beats-month", "A year of history forecasts better than one month (test RMSE, paired by seed)",
             None, "example", rule=R.Compare("test_rmse", "w12", "w1", "less", what="test RMSE", unit="passengers")),
    Declared("x-year-beats-naive", "With a year of history the model beats last year's same month",
             None, "example", rule=R.Exceeds("test_rmse", "w12", "naive_rmse", "less", what="test RMSE vs the "
                                             "seasonal-naive forecast's", unit="passengers")),
])


def summarize(study, cfg: Config, results, out_dir: Path) -> Summary:
    """The table of test RMSE by window, the forecasts of the lowest seed, and the findings."""
    s = Summary()
    if not results:
        return s
    res = Results(results)
    names = [v for v in study.variants(cfg) if v in res]
    naive = results[0].metrics["naive_rmse"]
    s.tables.append(Table("Test RMSE by window (mean over seeds)", ["window", "test RMSE", "seasonal naive"],
                          [[v, res.mean(v, "test_rmse"), naive] for v in names]))
    fig, ax = new_figure(7, 3.5)
    first = {v: res.first(v).arrays() for v in names}
    ax.plot(first[names[0]]["true"], color="black", lw=2, label="passengers")
    for v in names:
        ax.plot(first[v]["pred"], label=v)
    ax.set_xlabel("test month")
    ax.legend(fontsize=7)
    s.figures.append(save(fig, out_dir, "forecasts.png"))
    runs = R.Runs({"test_rmse": res.table("test_rmse", names)}, {"naive_rmse": naive})
    s.findings.extend(decide_declared(FINDINGS, runs))
    return s


# ================================================================ the study
@register
class ARWindow(Science):
    name = "ar-window"
    task = "T6.1"
    title = "Example: linear autoregression, window 1..24 months, vs seasonal naive (not the reference's)"
    profiles = {"smoke": {"windows": [1, 12], "epochs": 20, "seeds": 2},
                "demo": {"seeds": 5}, "full": {"windows": list(range(1, 25)), "seeds": 5}}
    small_runs = True
    headline_metrics = ["test_rmse", "naive_rmse"]
    sweep = ("windows",)
    summarize = summarize

    def variants(self, cfg: Config) -> list[str]:
        return [f"w{w}" for w in cfg.windows]


if __name__ == "__main__":
    from dltour.cli import main

    sys.exit(main())
