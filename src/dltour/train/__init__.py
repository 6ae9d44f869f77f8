"""The few shared training loops."""

from dltour.train.loop import EarlyStopping, FitResult, fit, iterate_minibatches, minibatch_epoch
from dltour.train.optim import adam

__all__ = ["adam", "EarlyStopping", "FitResult", "fit", "iterate_minibatches", "minibatch_epoch"]
