"""The few shared training loops."""

from dltour.train.loop import EarlyStopping, FitResult, bucketed_batches, fit, iterate_minibatches, minibatch_epoch
from dltour.train.optim import adam

__all__ = ["adam", "bucketed_batches", "EarlyStopping", "FitResult", "fit", "iterate_minibatches", "minibatch_epoch"]
