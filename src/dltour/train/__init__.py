"""The few shared training loops."""

from dltour.train.loop import EarlyStopping, FitResult, fit, iterate_minibatches

__all__ = ["EarlyStopping", "FitResult", "fit", "iterate_minibatches"]
