"""The few shared training loops."""

from dltour.train.loop import EarlyStopping, FitResult, fit, iterate_minibatches, minibatch_epoch

__all__ = ["EarlyStopping", "FitResult", "fit", "iterate_minibatches", "minibatch_epoch"]
