"""Logs a sparse autoencoder's ground-truth scores during `fit`."""

import keras

from sparsekeras.feature_recovery import evaluate_feature_recovery


class FeatureRecovery(keras.callbacks.Callback):
    """Scores the model on planted features every `every` steps.

    Runs `sparsekeras.feature_recovery.evaluate_feature_recovery` (MCC,
    uniqueness, precision, recall, F1, explained variance, shrinkage, L0,
    dead latents) on the same fresh samples each time, after every
    `every` training steps and at the end of each epoch; the epoch's
    scores join the epoch logs (and so `History`) as `recovery_<name>`.

    Args:
        generator: the `PlantedFeatures` the model trains on.
        every: positive integer, default 1000: steps between scorings;
            `None`: at the ends of epochs only.
        num_samples: positive integer, default 10,000: samples scored.
        batch_size: positive integer, default 4096.
        seed: integer, default 1: the scoring samples' stream.
        verbose: bool, default `False`: print each scoring.

    Attributes:
        history: list of `(step, scores)`, one per scoring.

    Example:

    >>> import keras
    >>> from sparsekeras.callbacks import FeatureRecovery
    >>> from sparsekeras.datasets import planted_features
    >>> from sparsekeras.models import SparseAutoencoder
    >>> g = planted_features("tiny")
    >>> sae = SparseAutoencoder(units=64, k=4, pre_bias=None)
    >>> sae.compile(optimizer=keras.optimizers.Adam(1e-3))
    >>> log = FeatureRecovery(g, every=5, num_samples=512)
    >>> _ = sae.fit(g.batches(64, 10), callbacks=[log], verbose=0)
    >>> [step for step, _ in log.history]
    [5, 10, 10]
    >>> 0 <= log.history[-1][1]["mcc"] <= 1
    True
    """

    def __init__(
        self,
        generator,
        every=1000,
        num_samples=10_000,
        batch_size=4096,
        seed=1,
        verbose=False,
    ):
        super().__init__()
        if every is not None and (
            isinstance(every, bool) or not isinstance(every, int) or every < 1
        ):
            raise ValueError(
                "Invalid value for `every`, expected a positive integer or "
                f"None. Received: every={every!r}"
            )
        self.generator = generator
        self.every = every
        self.num_samples = num_samples
        self.batch_size = batch_size
        self.seed = seed
        self.verbose = verbose
        self.history = []
        self._step = 0

    def _score(self):
        scores = evaluate_feature_recovery(
            self.model,
            self.generator,
            num_samples=self.num_samples,
            batch_size=self.batch_size,
            seed=self.seed,
        )
        self.history.append((self._step, scores))
        if self.verbose:
            shown = ", ".join(
                f"{k} {v:.4g}" for k, v in scores.items() if k != "samples"
            )
            print(f"step {self._step}: {shown}")
        return scores

    def on_train_batch_end(self, batch, logs=None):
        self._step += 1
        if self.every and self._step % self.every == 0:
            self._score()

    def on_epoch_end(self, epoch, logs=None):
        scores = self._score()
        if logs is not None:
            logs.update({f"recovery_{k}": v for k, v in scores.items()})
