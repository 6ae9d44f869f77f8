"""T2.1 ``airline-lstm``: an LSTM forecasts next month's airline passengers from a window of the
past months; the study sweeps the window size (reference Figures 2 and 13).

Run it::

    dltour run airline-lstm                  # demo: 10 windows x 5 seeds, full-batch training
    dltour run airline-lstm --profile full   # windows 1..24 x 3 seeds at the tutorial's budget
    dltour run airline-lstm --set data.path=FILE.csv   # your own copy (last column: the counts)

The reference states only "an LSTM", "different window sizes" and an "average MSE" of 58.7. Where it
is silent we follow the Keras tutorial the reference's course used (its Figure 2 matches it):

- data: AirPassengers, 144 months (the embedded copy is the whole dataset; ``comparison`` checks
  a user's file by the series' checksum, not by its path);
- split: the first 67% of the months (96, to 1956-12) train, the last 48 test; windows are cut
  *within* each part, so a window of w months makes the test predictions start w months into the
  test part (the reference: "larger window sizes force the prediction curve to start later");
- scaling: min-max to [0, 1], fitted on the training months only (option ``scaling="all"``: on the
  whole series, as the tutorial does before its split); ``val_months`` holds out the last training
  months as a validation part on which the readings (scaling, split, batch size) are chosen;
- model: LSTM(4 units) -> Linear(1) on the last step; Adam, MSE loss. The window is fed either as
  ``w`` time steps of one value (``input_layout="steps"``, the field's default and the demo's) or
  as one time step of ``w`` values (``"features"``, the tutorial's "window method", its
  ``reshape(X, (n, 1, w))``). ``full`` uses ``features``: it was lower on a validation split
  under both scalings (``docs/results/issue13-readings.md``); ``full``: 100 epochs at
  batch size 1, lr 1e-3, as in the tutorial (the reference's budget). ``demo``: full-batch steps at
  lr 3e-2, far fewer steps, so it is *not* budget-comparable and its summary says so. A window whose
  mean RMSE is no better than the mean predictor's makes every finding about windows inconclusive;
- errors: MSE and RMSE in passengers after inverting the scaling. (Option ``series_transform``:
  the LSTM reads and predicts month-to-month changes, ``diff`` or ``logdiff``, and the forecast is
  last month's count plus (times exp of) the predicted change; the same months are scored.)
- same-month errors: a window of w months is scored on the test months from 1957-01 + w on, so
  windows are scored on different (later, larger) months. Every comparison *between windows* is made
  on the LSTM's error relative to a baseline scored on the same months: ``LSTM RMSE / SARIMA RMSE``
  on that window's months, per seed. Baselines (deterministic, on each window's months): seasonal
  naive, SARIMA(0,1,1)(0,1,1)12 fitted on the training months and forecasting one step ahead with
  its parameters fixed, and the mean predictor (the learned-gate). Seeds pair across windows: seed s
  gives every window the same initial weights (under ``input_layout="steps"``; under ``features``
  the input weights' shape depends on the window, and seed s is only the same random stream);
- R10 "no pattern" read as: no trend of the same-month relative error with the window, seeds as
  the unit: per seed, the OLS slope of LSTM / SARIMA on the window (relative-error units per month
  of window); TOST of the mean slope against ±margin (``no_trend``). The margin: a trend that moves
  the relative error by less than R13's tolerance on the reference's average (10% of 58.7 = 5.87
  passengers, in relative units: divided by SARIMA's mean same-month RMSE) across the windows run
  is no pattern (see :func:`trend_margin`). R10's other part, "larger windows start later", is true
  by construction (window w's first prediction is test month w + 1): a note, not a verdict;
- R11: windows 12 and 18-22 beat the others on the relative error (per seed, the mean over each
  group's windows; paired t-test by seed); R13: the "average MSE" 58.7 read as an RMSE in
  passengers (an MSE of 58.7 would be an RMSE of 7.7, far better than any model of this series),
  our per-seed average over the windows run within ±10% of it (TOST; the margin's source in
  ``AVERAGE_MARGIN_SOURCE``).
- ours, beyond the reference (issue 19; only with ``tutorial_check_window=W``): window W's mean test
  RMSE over seeds at or below the Keras tutorial's best single run, 47.53 (window 1, 67/33 split,
  scaled over the whole series), one-sample t-test by seed, beside SARIMA and the seasonal-naive
  forecast on W's months. The recipe and its choice on validation: ``docs/results/airline-lstm/beyond``.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Literal, Mapping

import numpy as np
import torch
from pydantic import Field, ValidationInfo, field_validator

from dltour.train.optim import adam
from dltour.config import StudyConfig
from dltour.data import airline
from dltour.data.airline import AirlineData
from dltour.metrics.regression import mse, rmse
from dltour.models.lstm import LSTMRegressor
from dltour.plots import new_figure, save
from dltour.registry import register, Study
from dltour.summary import Comparison, Finding, Ref, RunResult, Summary, Table
from dltour.summary import Results
from dltour.train import fit, iterate_minibatches
from dltour.verdicts import (Decision, compare, describe, did_not_learn, exceeds, fmt, gate, inconclusive,
                             near_reference, no_trend, not_checked)

REF_AVERAGE = 58.7  # Figure 13's "average MSE"
REF_EPOCHS, REF_BATCH = 100, 1  # the Keras tutorial's budget, which the reference's Figure 2 matches
GOOD_WINDOWS = (12, 18, 19, 20, 21, 22)  # "windows of 12 months or in the range 18-22 months"
AVERAGE_MARGIN = 0.10  # R13: within ±10% of 58.7
# R13's margin, with its reasoning: the reference prints one average of unstated runs and no spread; our own
# full-budget average moves by about 5% (1 sd) from seed to seed (docs/results/airline-lstm), so a margin much
# narrower than 10% could not be met by a faithful rerun, and a much wider one would accept averages a reader
# of Figure 13 would call different
AVERAGE_MARGIN_SOURCE = ("±10% of the reference's 58.7: a stated fraction (the reference gives no spread; our "
                         "full-budget average varies by about 5% (1 sd) over seeds)")
REL_UNIT = "LSTM / SARIMA RMSE ratio"
# Our own check beyond the reference (issue 19): the Keras tutorial's own best single run, window 1 on the 67/33
# split, printed a test RMSE of 47.53 (passengers, with its scaling over the whole series)
TUTORIAL_BEST = 47.53


class Config(StudyConfig):
    data: AirlineData = Field(default_factory=AirlineData)
    """Where the monthly series comes from."""
    train_fraction: float = Field(0.67, gt=0.3, lt=0.95)
    """Share of the months used for training (the rest is the test part)."""
    windows: list[int] = Field(default_factory=lambda: list(range(1, 25)))
    """Window sizes (months of history) to compare; each is one variant ``w<N>``; each must leave the test
    part at least two months to score."""
    hidden: int = Field(4, ge=1)
    """LSTM units."""
    epochs: int = Field(100, ge=1)
    """Training epochs (the tutorial's 100)."""
    batch_size: int = Field(1, ge=1)
    """Minibatch size; at least the number of training windows (96 will do) means full-batch steps."""
    lr: float = Field(1e-3, gt=0)
    """Adam learning rate (the tutorial's 1e-3)."""
    scaling: Literal["train", "all"] = "train"
    """Min-max scaling to [0, 1] fitted on: ``train``, the training months only (no test
    leakage; test months above the training maximum map above 1), or ``all``, the whole series
    (the Keras tutorial's ``MinMaxScaler().fit_transform(dataset)`` before the split, which the
    reference's course followed: the test part's range leaks into the inputs' scale)."""
    input_layout: Literal["steps", "features"] = "steps"
    """How the LSTM sees a window of ``w`` months: ``steps``, a sequence of ``w`` time steps of one
    value each (the tutorial's "time steps" reading), or ``features``, one time step of ``w`` values
    (the tutorial's "window method", ``numpy.reshape(trainX, (n, 1, w))``). Under ``features`` the
    input weights' shape depends on the window, so a seed no longer gives every window the same
    initial weights."""
    val_months: int = Field(0, ge=0)
    """Hold out the last N training months as a validation part (the model trains on the months
    before it; ``scaling="train"`` fits on those); each run also reports ``val_rmse`` on those
    months, whose input windows may reach back into the training months. Settings are chosen on
    it. 0: no validation part (the reference's setup)."""
    series_transform: Literal["none", "diff", "logdiff"] = "none"
    """What the LSTM reads and predicts: ``none``, the monthly counts (the reference's and the
    tutorial's); ``diff``, the month-to-month changes y[t] - y[t-1]; ``logdiff``, the relative
    changes log y[t] - log y[t-1] (whose seasonal swing keeps its size as the series grows). Under
    a change, the min-max scaling (``scaling``) is fitted on the changes, a window of w months is
    the w changes into them, and month t's forecast is y[t-1] plus (``logdiff``: times exp of) the
    predicted change; every error is still in passengers on the same months as ``none``. Not part
    of the run id at ``none``."""
    tutorial_check_window: int | None = Field(None, ge=1)
    """Our own check beyond the reference (issue 19): decide whether this window's mean test RMSE
    over seeds is at or below the Keras tutorial's best single run, 47.53 (window 1, 67/33 split).
    It must be one of ``windows``. ``None`` (the default): no such finding. It changes only the
    summary, never a run (not part of the run id)."""

    @field_validator("windows")
    @classmethod
    def _windows_fit(cls, windows: list[int], info: ValidationInfo) -> list[int]:
        n_test = 144 - int(144 * info.data.get("train_fraction", 0.67))  # (train_fraction is checked first)
        bad = [w for w in windows if w < 1 or w >= n_test - 1]
        if bad:
            raise ValueError(f"windows {bad} do not fit the test part; use 1..{n_test - 2}")
        return windows

    @field_validator("tutorial_check_window")
    @classmethod
    def _check_window_is_run(cls, w: int | None, info: ValidationInfo) -> int | None:
        windows = info.data.get("windows")
        if w is not None and windows is not None and w not in windows:
            raise ValueError(f"tutorial_check_window {w} is not among the windows run {windows}")
        return w


def scale_range(y: np.ndarray, n_fit: int, scaling: str) -> tuple[np.floating, np.floating]:
    """(min, max) of the min-max scaling: over the first ``n_fit`` months (``train``) or the whole
    series (``all``). NumPy scalars of the series' dtype, not Python floats: a Python float would
    let the float32 predictions be unscaled in float32 instead of the series' float64."""
    part = y[:n_fit] if scaling == "train" else y
    return part.min(), part.max()


@register
class AirlineLSTM(Study):
    name = "airline-lstm"
    task = "T2.1"
    title = "LSTM next-month airline passengers: window size 1..24 vs seasonal naive and SARIMA"
    Config = Config
    version = 2
    small_runs = True  # a 4-unit LSTM: one thread per process, one process per core
    profiles = {
        "smoke": {"windows": [1, 12], "epochs": 2, "seeds": 1},
        # demo: full-batch Adam, 200 steps a run (the tutorial's batch 1 makes 8,400): not the reference's budget
        "demo": {"windows": [1, 3, 6, 9, 12, 15, 18, 20, 22, 24], "seeds": 5, "batch_size": 96, "epochs": 200,
                 "lr": 3e-2},
        # full: the tutorial's budget, and its "window method" input (chosen on a validation split, issue 13)
        "full": {"windows": list(range(1, 25)), "seeds": 3, "input_layout": "features"},
    }
    reference = [
        Ref("Figure 13", "average", "test_rmse", REF_AVERAGE,
            "the reference labels it 'average MSE'; its size matches an RMSE in passengers"),
    ]
    headline_metrics = ["test_rmse", "rel_sarima_same_months", "test_mse", "sarima_rmse_same_months"]

    def variants(self, cfg: Config) -> list[str]:  # windows checked by Config
        return [f"w{w}" for w in cfg.windows]

    def run_key(self, cfg: Config, variant: str) -> dict:
        d = super().run_key(cfg, variant)
        d.pop("windows")  # the sweep list: adding a window reuses the others
        d.pop("tutorial_check_window")  # a summary-only finding: the runs are the same
        if d["series_transform"] == "none":  # added later: the runs computed before it keep their ids
            d.pop("series_transform")
        return d

    def build_model(self, cfg: Config, variant: str):
        return LSTMRegressor(hidden=cfg.hidden, inputs=lstm_inputs(cfg, int(variant[1:])))

    # ------------------------------------------------------------------ data
    def _series(self, cfg: Config) -> tuple[list[str], np.ndarray]:
        return airline.series_for(cfg.data)

    @staticmethod
    def windows(x: np.ndarray, w: int) -> tuple[np.ndarray, np.ndarray]:
        """(N - w, w) inputs and (N - w,) targets: x[i:i+w] -> x[i+w]."""
        idx = np.arange(len(x) - w)[:, None] + np.arange(w)[None, :]
        return x[idx], x[w:]

    def check_data(self, cfg: Config) -> None:
        """The series reads, and leaves enough training months for every window."""
        _, y = self._series(cfg)
        for v in self.variants(cfg):
            self._check_window(cfg, y, int(v[1:]))

    @staticmethod
    def _check_window(cfg: Config, y: np.ndarray, w: int) -> None:
        n_fit = int(len(y) * cfg.train_fraction) - cfg.val_months
        k = 1 if cfg.series_transform != "none" else 0
        if n_fit - k < w + 2:
            from dltour.errors import DltourError

            where = f"{cfg.data.path}: " if cfg.data.path else ""
            raise DltourError(f"{where}{len(y)} months, and val_months {cfg.val_months} leaves {n_fit} training "
                              f"months: too few for window {w}")

    # ------------------------------------------------------------------ one run
    def run(self, cfg: Config, variant: str, seed: int, ctx) -> dict[str, float]:
        w = int(variant[1:])
        months, y = self._series(cfg)
        n_train = int(len(y) * cfg.train_fraction)
        n_fit = n_train - cfg.val_months  # months the model trains on
        # the modelled series: z[i] is month i + k's count (k = 0) or the change into it (k = 1)
        z, k = modelled_series(y, cfg.series_transform)
        self._check_window(cfg, y, w)
        lo, hi = scale_range(z, n_fit - k, cfg.scaling)
        scaled = (z - lo) / (hi - lo)
        xtr, ytr = self.windows(scaled[:n_fit - k], w)  # targets: months k + w .. n_fit - 1
        xte, yte = self.windows(scaled[n_train - k:], w)  # targets: months n_train + w .. the last
        dev = ctx.device.device
        Xtr = as_inputs(xtr, cfg, dev)  # (N, w, 1), or (N, 1, w) under input_layout="features"
        Ytr = torch.tensor(ytr, dtype=torch.float32, device=dev)
        Xte = as_inputs(xte, cfg, dev)
        model, opt = model_and_opt(cfg, dev, w)

        def train_epoch(epoch: int) -> dict:
            model.train()
            total = torch.zeros((), device=dev)  # summed on the device: one host sync per epoch
            for idx in iterate_minibatches(len(Xtr), cfg.batch_size, seed, epoch, device=dev):
                total += train_step(model, opt, Xtr[idx], Ytr[idx]) * len(idx)
            return {"train_loss": float(total) / len(Xtr)}

        # a checkpoint every ~1/4 of the run (>= 10 epochs): a killed run resumes, and a 300-step demo
        # run does not spend a fifth of its time writing (and fsync-ing) them
        fit(ctx, {"model": model, "opt": opt}, cfg.epochs, train_epoch, checkpoint_every=max(10, cfg.epochs // 4))
        model.eval()
        with torch.no_grad():  # forecasts in passengers: month t from its own scaled prediction and y[t - 1]
            pred_te = to_levels(model(Xte).cpu().numpy() * (hi - lo) + lo, y[n_train + w - 1:-1], cfg.series_transform)
            pred_tr = to_levels(model(Xtr).cpu().numpy() * (hi - lo) + lo, y[k + w - 1:n_fit - 1],
                                cfg.series_transform)
        true_te = y[n_train + w:]
        ctx.save_arrays(pred_test=pred_te, true_test=true_te, pred_train=pred_tr,
                        test_start=np.array(n_train + w))
        out = {"test_mse": mse(true_te, pred_te), "test_rmse": rmse(true_te, pred_te),
               "train_rmse": rmse(y[k + w:n_fit], pred_tr), "window": w}
        if cfg.val_months:  # targets: the held-out months n_fit..n_train-1, inputs the w months before each
            xv, _ = self.windows(scaled[n_fit - k - w:n_train - k], w)
            with torch.no_grad():
                pv = model(as_inputs(xv, cfg, dev)).cpu().numpy()
            out["val_rmse"] = rmse(y[n_fit:n_train], to_levels(pv * (hi - lo) + lo, y[n_fit - 1:n_train - 1],
                                                                cfg.series_transform))
        return out

    # ------------------------------------------------------------------ baselines
    @staticmethod
    def seasonal_naive(y: np.ndarray, n_train: int) -> np.ndarray:
        """Forecast of month t is the value of month t - 12 (test months only)."""
        return y[n_train - 12:len(y) - 12]

    @staticmethod
    def sarima_one_step(y: np.ndarray, n_train: int) -> np.ndarray:
        """SARIMA(0,1,1)(0,1,1)12 fitted on the training months; one-step-ahead forecasts through
        the test months with the fitted parameters kept fixed."""
        from statsmodels.tsa.statespace.sarimax import SARIMAX

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # concentrate_scale: the noise variance is profiled out of the likelihood (the same maximum,
            # the same forecasts to ~1e-5 passengers here; one parameter less to search, ~5x faster)
            res = SARIMAX(y[:n_train], order=(0, 1, 1), seasonal_order=(0, 1, 1, 12),
                          concentrate_scale=True).fit(disp=False)
            full = res.append(y[n_train:], refit=False)
            pred = full.predict(start=n_train, end=len(y) - 1)
        return np.asarray(pred)

    @classmethod
    def same_month_baselines(cls, y: np.ndarray, n_train: int, windows: list[int],
                             sarima: np.ndarray | None = None) -> dict[str, dict[int, float]]:
        """Baseline -> window -> RMSE on exactly the test months that window is scored on."""
        preds = {"sarima": cls.sarima_one_step(y, n_train) if sarima is None else sarima,
                 "seasonal-naive": cls.seasonal_naive(y, n_train),
                 "mean": np.full(len(y) - n_train, float(y[:n_train].mean()))}
        return {k: {w: rmse(y[n_train + w:], p[w:]) for w in windows} for k, p in preds.items()}

    # ------------------------------------------------------------------ comparable with the reference?
    def comparison(self, cfg: Config) -> Comparison:
        """Data: AirPassengers by the series' checksum. Budget: the tutorial's 100 epochs at batch 1
        (the reference states none; its Figure 2 matches the tutorial)."""
        why = []
        try:
            _, y = self._series(cfg)
            data = airline.is_airpassengers(y)
            if not data:
                why.append(f"data: {cfg.data.path or 'the series'} is not AirPassengers ({len(y)} values; the "
                           f"checksum of the counts differs)")
        except Exception as e:  # an unreadable file is reported by the run itself
            data = False
            why.append(f"data: cannot read the series ({e})")
        budget = cfg.epochs == REF_EPOCHS and cfg.batch_size == REF_BATCH
        if not budget:
            why.append(f"budget: {cfg.epochs} epochs at batch {cfg.batch_size} (lr {cfg.lr:g}) vs the tutorial's "
                       f"{REF_EPOCHS} epochs at batch {REF_BATCH} (lr 1e-3) that the reference's Figure 2 matches")
        return Comparison(data, budget, "; ".join(why), about=data,
                          about_why="" if data else (why[0].removeprefix("data: ") if why else "not AirPassengers"))

    claims_about = "the AirPassengers series"

    # ------------------------------------------------------------------ summary
    def summarize(self, cfg: Config, results: list[RunResult], out_dir: Path) -> Summary:
        s = Summary()
        if not results:
            return s
        res = Results(results)
        months, y = self._series(cfg)
        n_train = int(len(y) * cfg.train_fraction)
        ws = sorted(int(v[1:]) for v in res.variants)
        sarima = self.sarima_one_step(y, n_train)
        true_test = y[n_train:]
        for name, pred in (("seasonal-naive", self.seasonal_naive(y, n_train)), ("sarima", sarima)):
            s.extra_metrics[name] = {"test_rmse": [rmse(true_test, pred)], "test_mse": [mse(true_test, pred)]}
        base = self.same_month_baselines(y, n_train, ws, sarima)
        lstm = {w: res.values(f"w{w}", "test_rmse") for w in ws}
        rel = relative_errors(lstm, base["sarima"])
        for w in ws:  # the baselines on exactly the months this window is scored on
            m = s.extra_metrics.setdefault(f"w{w}", {})
            m["sarima_rmse_same_months"] = [base["sarima"][w]]
            m["rel_sarima_same_months"] = list(rel[w].values())
        avg = average_over_windows(lstm)
        s.extra_metrics["average"] = {"test_rmse": list(avg.values()),
                                      "test_mse": list(average_over_windows(
                                          {w: res.values(f"w{w}", "test_mse") for w in ws}).values())}
        starts = {w: float(res.first(f"w{w}").arrays()["test_start"]) for w in ws}

        # Figure 2: test predictions of several windows over the true series (lowest seed)
        fig, ax = new_figure(8, 4)
        ax.plot(np.arange(len(y)), y, color="black", lw=1.5, label="true")
        ax.axvline(n_train - 0.5, color="gray", ls=":", lw=1)
        show = [w for w in ws if w in (1, 6, 12, 18, 24)] or ws[:4]
        if cfg.tutorial_check_window in ws and cfg.tutorial_check_window not in show:  # the window our check is on
            show.append(cfg.tutorial_check_window)
        for w in show:
            a = res.first(f"w{w}").arrays()
            start = int(a["test_start"])
            ax.plot(np.arange(start, start + len(a["pred_test"])), a["pred_test"], lw=1, label=f"window {w}")
        ax.plot(np.arange(n_train, len(y)), sarima, color="gray", ls="--", lw=1, label="SARIMA")
        ticks = np.arange(0, len(y), 24)
        ax.set_xticks(ticks, [months[i][:4] for i in ticks])
        ax.set_ylabel("passengers (thousands)")
        ax.set_title("T2.1 test predictions by window size (cf. reference Figure 2)")
        ax.legend(fontsize=7, ncol=2)
        s.figures.append(save(fig, out_dir, "fig2_test_predictions.png"))

        # Figure 13: test error against window size (left, as the reference) and on the same months (right)
        fig, (ax, ax2) = new_figure(11, 3.8, ncols=2)
        mean_rmse = res.means("test_rmse", [f"w{w}" for w in ws])
        sd = [np.std(list(lstm[w].values()), ddof=1) if len(lstm[w]) > 1 else 0.0 for w in ws]
        avg_rmse = float(np.mean(list(avg.values()))) if avg else math.nan
        ax.errorbar(ws, [mean_rmse[f"w{w}"] for w in ws], yerr=sd, marker="o", capsize=3,
                    label="LSTM test RMSE (mean ± sd over seeds)")
        ax.axhline(avg_rmse, color="C0", ls="--", lw=1, label=f"average ({avg_rmse:.1f})")
        ax.axhline(REF_AVERAGE, color="C3", ls=":", lw=1, label=f"reference average ({REF_AVERAGE})")
        ax.plot(ws, [base["sarima"][w] for w in ws], color="gray", marker=".", lw=1, label="SARIMA, same months")
        ax.plot(ws, [base["seasonal-naive"][w] for w in ws], color="gray", marker="x", ls=":", lw=1,
                label="seasonal naive, same months")
        ax.set_xlabel("window size (months)")
        ax.set_ylabel("test RMSE (thousands of passengers)")
        ax.set_title("T2.1 test error by window (cf. reference Figure 13)", fontsize=10)
        ax.legend(fontsize=7)
        for w in ws:
            ax2.scatter([w] * len(rel[w]), list(rel[w].values()), color="C0", s=10, alpha=0.6)
        ax2.plot(ws, [float(np.mean(list(rel[w].values()))) for w in ws], color="C0", marker="o",
                 label="LSTM / SARIMA RMSE, same months (seeds, mean)")
        for w in GOOD_WINDOWS:
            if w in ws:
                ax2.axvspan(w - 0.4, w + 0.4, color="C2", alpha=0.12, lw=0)
        ax2.set_xlabel("window size (months)  (shaded: the reference's 12 and 18-22)")
        ax2.set_ylabel("relative error")
        ax2.set_title("same-month relative error", fontsize=10)
        ax2.legend(fontsize=7)
        s.figures.append(save(fig, out_dir, "fig13_error_by_window.png"))

        # The table: every window on its own months, beside the baselines on the same months
        rows = []
        for w in ws:
            scored = y[n_train + w:]
            rows.append([f"w{w}", f"{months[n_train + w]}..{months[-1]} ({len(scored)})",
                         describe("", lstm[w]).strip(), describe("", rel[w]).strip(), base["sarima"][w],
                         base["seasonal-naive"][w], base["mean"][w]])
        s.tables.append(Table(
            "T2.1 test RMSE by window, each on the months it is scored on, beside baselines on the same months",
            ["window", "test months scored (n)", "LSTM RMSE (mean ± sd, n)", "LSTM / SARIMA (mean ± sd, n)",
             "SARIMA", "seasonal naive", "mean predictor"], rows,
            note="RMSE in thousands of passengers. The relative error LSTM / SARIMA is per seed, on the window's "
                 "own months: the measure the window findings compare."))

        cmp = self.comparison(cfg)
        s.findings.extend(findings(lstm, base, cmp, check_window=cfg.tutorial_check_window))
        s.notes.append(start_later_note(starts, months))

        # which of our units is of the reference's magnitude (a note, not a verdict about the reference)
        avg_mse = float(np.mean(s.extra_metrics["average"]["test_mse"]))
        scale = float(y[:n_train].max() - y[:n_train].min())
        units = {"RMSE (passengers)": avg_rmse, "MSE (passengers^2)": avg_mse, "MSE (scaled 0-1)": avg_mse / scale ** 2}
        closest = min(units, key=lambda k: abs(math.log(max(units[k], 1e-12) / REF_AVERAGE)))
        s.notes.append("Units of the reference's 'average MSE' 58.7: our averages over the windows run are "
                       + ", ".join(f"{k} {fmt(v)}" for k, v in units.items())
                       + f"; the closest to 58.7 in ratio is the {closest} ({units[closest] / REF_AVERAGE:.2g} x 58.7). "
                       "This is about our units only: it cannot tell what the reference computed.")
        s.notes.append(f"Test part: the last {len(y) - n_train} months ({months[n_train]}..{months[-1]}); each "
                       f"window is scored on the test months after its first window, so larger windows are scored "
                       f"on fewer, later (larger) months, and windows are compared on the relative error to SARIMA "
                       f"on the same months. Seeds pair across windows: "
                       + ("seed s gives every window the same initial weights." if cfg.input_layout == "steps" else
                          "seed s is the same random stream for every window (the window enters as features, so "
                          "the input weights' shape depends on it)."))
        if not cmp.budget:
            s.notes.append(f"Not the reference's budget ({cmp.why}); the findings describe this budget.")
        return s

    # ------------------------------------------------------------------ bench
    def check_model(self, cfg: Config, variant: str) -> float:
        """The LSTM on two made-up windows of the variant's length, through ``batch_loss``."""
        from dltour.train.loop import backward_check

        model = self.build_model(cfg, variant)
        w = int(variant[1:])
        return backward_check(batch_loss(model, as_inputs(np.random.rand(2, w), cfg, "cpu"), torch.rand(2)), model)

    def bench(self, cfg: Config, ctx) -> dict:
        from dltour.bench import endless, measure_training

        w = cfg.windows[len(cfg.windows) // 2]
        _, y = self._series(cfg)
        n_fit = int(len(y) * cfg.train_fraction) - cfg.val_months
        z, k = modelled_series(y, cfg.series_transform)
        lo, hi = scale_range(z, n_fit - k, cfg.scaling)
        xtr, ytr = self.windows((z[:n_fit - k] - lo) / (hi - lo), w)
        dev = ctx.device.device
        Xtr = as_inputs(xtr, cfg, dev)
        Ytr = torch.tensor(ytr, dtype=torch.float32, device=dev)
        model, opt = model_and_opt(cfg, dev, w)
        bs = min(cfg.batch_size, len(Xtr))

        def step(x, t):
            train_step(model, opt, x, t)

        def epoch_batches(epoch: int):  # the run's pipeline: shuffled index batches into the device tensors
            for idx in iterate_minibatches(len(Xtr), bs, 0, epoch, device=dev):
                if len(idx) == bs:
                    yield Xtr[idx], Ytr[idx]

        synthetic = (torch.rand(bs, *Xtr.shape[1:], device=dev), torch.rand(bs, device=dev))
        return measure_training(step, endless(epoch_batches), synthetic, bs, ctx.device,
                                variant=f"w{w}", note="the real pipeline slices in-memory tensors; the LSTM at "
                                "batch 1 is latency-bound, so both rates are Python-overhead dominated")


# ---------------------------------------------------------------------- what the LSTM models
def modelled_series(y: np.ndarray, transform: str) -> tuple[np.ndarray, int]:
    """(z, k): the series the LSTM reads and predicts, z[i] standing for month i + k: the counts
    (``none``, k = 0) or the change into month i + 1 (``diff``: y[i+1] - y[i]; ``logdiff``:
    log y[i+1] - log y[i]; k = 1)."""
    if transform == "none":
        return y, 0
    return np.diff(np.log(y) if transform == "logdiff" else y), 1


def to_levels(pred: np.ndarray, prev: np.ndarray, transform: str) -> np.ndarray:
    """Forecasts in passengers from predictions of the modelled series and the months before
    them (``prev``, y[t - 1] for each forecast month t; unused under ``none``)."""
    if transform == "none":
        return pred
    return prev * np.exp(pred) if transform == "logdiff" else prev + pred


# ---------------------------------------------------------------------- the training step (run and bench)
def lstm_inputs(cfg: Config, w: int) -> int:
    """Values per time step the LSTM reads for a window of ``w`` months."""
    return w if cfg.input_layout == "features" else 1


def as_inputs(x: np.ndarray, cfg: Config, dev) -> torch.Tensor:
    """Windows ``x`` (N, w) as the LSTM's input: (N, w, 1) time steps, or (N, 1, w) features."""
    t = torch.tensor(x, dtype=torch.float32, device=dev)
    return t.unsqueeze(1) if cfg.input_layout == "features" else t.unsqueeze(-1)


def model_and_opt(cfg: Config, dev, w: int) -> tuple[LSTMRegressor, torch.optim.Adam]:
    """The LSTM for windows of ``w`` months and its Adam, as ``run`` and ``bench`` train them."""
    model = LSTMRegressor(hidden=cfg.hidden, inputs=lstm_inputs(cfg, w)).to(dev)
    # fused: one kernel for the 6 parameter tensors (a third of a tiny model's step time otherwise)
    return model, adam(model.parameters(), cfg.lr, dev)


def batch_loss(model: LSTMRegressor, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """MSE of the next-month forecasts of windows ``x`` (N, w, 1) or (N, 1, w) against targets ``t`` (N,)."""
    return torch.nn.functional.mse_loss(model(x), t)


def train_step(model: LSTMRegressor, opt: torch.optim.Optimizer, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """One Adam step on a batch (``run`` and ``bench`` both train with it); returns the detached loss."""
    opt.zero_grad(set_to_none=True)
    loss = batch_loss(model, x, t)
    loss.backward()
    opt.step()
    return loss.detach()


# ---------------------------------------------------------------------- decisions (plain per-seed values in)
PerWindow = Mapping[int, Mapping[int, float]]  # window -> seed -> value


def _ratio(v: float, base: float) -> float:
    """LSTM RMSE / baseline RMSE; a baseline with zero error (a perfectly periodic series: seasonal
    naive and SARIMA are exact) gives 1 when the LSTM is exact too and +inf otherwise (dropped and
    counted as a non-finite run by the decision rules), never a ZeroDivisionError."""
    v, base = float(v), float(base)
    if base == 0.0:
        return 1.0 if v == 0.0 else math.inf
    return v / base


def relative_errors(lstm: PerWindow, baseline: Mapping[int, float]) -> dict[int, dict[int, float]]:
    """window -> seed -> LSTM RMSE / the baseline's RMSE on the same months (see :func:`_ratio`)."""
    return {w: {s: _ratio(v, baseline[w]) for s, v in by_seed.items()} for w, by_seed in lstm.items()}


def _shared_seeds(per_window: PerWindow, windows) -> list[int]:
    sets = [set(per_window[w]) for w in windows]
    return sorted(set.intersection(*sets)) if sets else []


def average_over_windows(per_window: PerWindow, windows=None) -> dict[int, float]:
    """seed -> mean over the windows (those given, else all) of the value, over seeds every window has."""
    windows = sorted(per_window) if windows is None else list(windows)
    seeds = _shared_seeds(per_window, windows)
    return {s: float(np.mean([per_window[w][s] for w in windows])) for s in seeds}


def decide_windows(rel: PerWindow) -> Decision:
    """R11: the same-month relative error of windows 12 and 18-22 is lower than the other windows',
    per seed (mean over each group), paired by seed."""
    good = [w for w in sorted(rel) if w in GOOD_WINDOWS]
    other = [w for w in sorted(rel) if w not in GOOD_WINDOWS]
    if not good or not other:
        return not_checked(f"needs windows in 12 or 18-22 and others; ran {sorted(rel)}")
    a, b = average_over_windows(rel, good), average_over_windows(rel, other)
    d = compare(a, b, "less", names=(f"windows {', '.join(map(str, good))}", f"windows {', '.join(map(str, other))}"),
                what="LSTM / SARIMA RMSE on each window's own months, mean over the group's windows per seed",
                unit=REL_UNIT)
    per = ", ".join(f"w{w} {fmt(float(np.mean(list(rel[w].values()))))}" for w in sorted(rel))
    d.evidence += f"; per window (mean over seeds): {per}"
    return d


def trend_margin(sarima: Mapping[int, float], windows) -> tuple[float, str]:
    """R10's equivalence margin on the per-seed slope of the relative error (LSTM / SARIMA) per month
    of window, and its source.

    "No pattern" is read at the precision R13 grants the reference's own average: a trend that moves
    the error by less than 10% of the reference's 58.7 (5.87 passengers) across the whole range of
    windows run is no pattern. In relative units that is 5.87 / SARIMA's mean RMSE on the windows'
    own months, spread over the range (max window - min window)."""
    ws = sorted(windows)
    span = max(ws) - min(ws) if len(ws) > 1 else 1
    level = float(np.mean([float(sarima[w]) for w in ws]))
    if not level > 0:  # SARIMA exact on these months (a perfectly periodic series): no relative scale
        return math.nan, "undefined: SARIMA's RMSE on the windows' months is 0"
    total = AVERAGE_MARGIN * REF_AVERAGE / level
    src = (f"a change of less than {fmt(total)} over windows {ws[0]}-{ws[-1]}: R13's tolerance "
           f"{AVERAGE_MARGIN:.0%} of 58.7 = {fmt(AVERAGE_MARGIN * REF_AVERAGE)} passengers over SARIMA's mean "
           f"same-month RMSE {fmt(level)}")
    return total / span, src


def decide_no_pattern(rel: PerWindow, sarima: Mapping[int, float]) -> Decision:
    """R10: no trend of the same-month relative error with the window, seeds as the unit: per seed,
    the OLS slope of LSTM / SARIMA on the window; TOST of the mean slope within ±:func:`trend_margin`."""
    ws = sorted(rel)
    seeds = _shared_seeds(rel, ws)
    if not all(float(sarima[w]) > 0 for w in ws):
        exact = [w for w in ws if not float(sarima[w]) > 0]
        return inconclusive(f"SARIMA forecasts the months of windows {', '.join(map(str, exact))} exactly (RMSE 0): "
                            "the relative error is undefined there, so no pattern can be measured")
    margin, src = trend_margin(sarima, ws)
    y = {s: [rel[w][s] for w in ws] for s in seeds}
    return no_trend(ws, y, margin, margin_source=src, name="LSTM / SARIMA RMSE on the same months",
                    xname="month of window", unit=REL_UNIT, what="per seed: one slope over the windows run")


def start_later_note(starts: Mapping[int, float], months: list[str] | None = None) -> str:
    """R10's structural part, as a note: larger windows make the test predictions start later. True
    by construction (a window of w months predicts the test months from the (w + 1)-th on), so it
    carries no verdict; the note shows the first predicted month of each window."""
    ws = sorted(starts)

    def month(w):
        i = int(starts[w])
        return months[i] if months is not None and 0 <= i < len(months) else f"month {i}"

    later = all(starts[b] > starts[a] for a, b in zip(ws, ws[1:]))
    return ("R10's structural part, 'larger window sizes force the prediction curve to start later', holds by "
            "construction (a window of w months has its first test prediction w months into the test part), so it "
            "is shown here, not decided: first predicted month "
            + ", ".join(f"w{w} {month(w)}" for w in ws)
            + ("" if later else " (NOT later for every larger window: the run's saved start months disagree)") + ".")


def decide_average(avg: Mapping[int, float], margin: float = AVERAGE_MARGIN) -> Decision:
    """R13: our per-seed average test RMSE equals 58.7 within ±margin (relative), TOST paired with
    the constant reference value."""
    return near_reference(avg, REF_AVERAGE, margin, margin_source=AVERAGE_MARGIN_SOURCE,
                          name="our average test RMSE over windows", unit="passengers (RMSE)")


def decide_lstm_vs_sarima(rel: PerWindow) -> Decision:
    """Ours: the LSTM beats SARIMA on the same months (mean relative error over windows below 1)."""
    return exceeds(average_over_windows(rel), 1.0, "less", name="LSTM / SARIMA RMSE, same months, mean over windows",
                   what="per seed", unit=REL_UNIT)


def decide_tutorial_best(values: Mapping[int, float]) -> Decision:
    """Ours (issue 19): the mean over seeds of one window's test RMSE is at or below the Keras
    tutorial's best single run, 47.53 (one-sample t-test, seeds as the unit)."""
    return exceeds(values, TUTORIAL_BEST, "less", name="our test RMSE (one window, per seed)",
                   what="per seed, against the Keras tutorial's best single run (window 1)",
                   unit="passengers (RMSE)")


def tutorial_best_finding(lstm: PerWindow, base: Mapping[str, Mapping[int, float]], window: int,
                          failed: Mapping[str, str] | None = None, every: list[str] | None = None) -> Finding:
    """The ``tutorial-best-47.53`` finding for ``window`` (our check, no reference claim): the
    decision, with SARIMA and the seasonal-naive forecast on the same test months as evidence."""
    if window not in lstm:
        d = not_checked(f"window {window} was not run")
    else:
        d = decide_tutorial_best(lstm[window])
        if failed is not None:
            d = gate(d, failed, every)
    same = []
    for name in ("sarima", "seasonal-naive"):
        if window in base.get(name, {}):
            same.append(f"{'SARIMA(0,1,1)(0,1,1)12' if name == 'sarima' else 'seasonal naive'} "
                        f"{fmt(float(base[name][window]))}")
    return Finding.of(
        "tutorial-best-47.53",
        f"Window {window} reaches the Keras tutorial's best single run (our check, beyond the reference): our mean "
        f"test RMSE over seeds is at or below {TUTORIAL_BEST} passengers (the tutorial: window 1, 67/33 split, one "
        f"run, scaled over the whole series)", d,
        evidence=(f"window {window} is scored on the test months after the first {window}"
                  + (f"; on the same months: {', '.join(same)}" if same else "")))


def findings(lstm: PerWindow, base: Mapping[str, Mapping[int, float]],
             cmp: Comparison | None = None, check_window: int | None = None) -> list[Finding]:
    """The study's findings from plain values: ``lstm`` window -> seed -> test RMSE, ``base``
    baseline -> window -> RMSE on that window's months (``sarima`` and ``mean`` are used), ``cmp``
    the comparison with the reference, ``check_window`` the window of our check against the Keras
    tutorial's 47.53 (``tutorial_check_window``; ``None``: not made). (R10's "larger windows start
    later" is true by construction: :func:`start_later_note`, not a finding.)"""
    ws = sorted(lstm)
    rel = relative_errors(lstm, base["sarima"])
    failed = did_not_learn({f"w{w}": lstm[w] for w in ws}, {f"w{w}": base["mean"][w] for w in ws}, "less")
    every = [f"w{w}" for w in ws]
    margin, _ = trend_margin(base["sarima"], ws)
    out = [
        Finding.of("no-window-pattern",
                   f"No pattern of the error with the window size: the same-month relative error (LSTM / SARIMA) "
                   f"shows no trend with the window (per seed, the OLS slope over the windows; equivalence of the "
                   f"mean slope to 0 within ±{fmt(margin)} per month of window)",
                   gate(decide_no_pattern(rel, base["sarima"]), failed, every), ref="R10",
                   section="§2, Task 2.1, Figure 2"),
        Finding.of("windows-12-18-22",
                   "Windows of 12 months or 18-22 months give lower test error than the other windows (decided on "
                   "the same-month relative error LSTM / SARIMA, so that windows scored on different months "
                   "compare)", gate(decide_windows(rel), failed, every), ref="R11",
                   section="§2, Task 2.1, Figure 13"),
    ]
    avg = average_over_windows(lstm)
    comp = ("" if cmp is None else
            "comparable with the reference" if cmp.ok else f"not comparable with the reference: {cmp.why}")
    d = not_checked(f"the data is not AirPassengers ({cmp.why})") if cmp is not None and not cmp.data \
        else gate(decide_average(avg), failed, every)
    out.append(Finding.of(
        "average-error-58.7",
        f"The average test error over window sizes is 58.7 (Figure 13's 'average MSE', read as an RMSE in "
        f"passengers): our per-seed average test RMSE over the windows run is within ±{AVERAGE_MARGIN:.0%} of it",
        d, ref="R13", section="Appendix 7.2, Figure 13",
        evidence=f"averaged over windows {', '.join(map(str, ws))}" + (f"; {comp}" if comp else "")))
    out.append(Finding.of(
        "lstm-vs-sarima",
        "The LSTM beats SARIMA(0,1,1)(0,1,1)12 on the same test months (our check, not the reference's): mean "
        "relative error over the windows below 1", gate(decide_lstm_vs_sarima(rel), failed, every)))
    if check_window is not None:
        out.append(tutorial_best_finding(lstm, base, check_window, failed, [f"w{check_window}"]))
    return out
