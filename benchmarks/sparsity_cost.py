"""The cost of sparsity: each MNIST case against the plain autoencoder.

The five cases are the comparison's own (`studies.five_cases.cases`),
784-1000-784 with batches of 256, sigmoid hidden units (linear then
`KSparse` for the k-sparse case) and Adam. Two measurements:

- Train-step time, by `model.train_on_batch` on one fixed batch that is
  already a backend tensor. It runs the same compiled train function as
  `fit` does for each step, with only a constant dispatch around it, and
  it times each step alone, without `fit`'s per-epoch set-up (data
  adapter, callbacks, shuffling), which would dilute the differences
  between cases; the step is finished when it returns, as it converts the
  loss to a Python float.
- Seconds per epoch of `model.fit` on the training images, the time a user
  waits, with `fit`'s overheads included.
"""

import dataclasses
import warnings

import keras

from benchmarks import timing
from sparsekeras.layers import KSparse
from sparsekeras.regularizers import WeightDecay
from sparsekeras.studies.five_cases.cases import build_case
from sparsekeras.studies.five_cases.presets import ORIGINAL
from sparsekeras.studies.five_cases.registry import KEYS as CASES

BASELINE = "plain"
# The comparison's schedule: 60,000 images in batches of 256, 10 epochs,
# so `KSparse` anneals k over the first 1,175 steps, as it does there.
COMPARISON_STEPS_PER_EPOCH = 235
COMPARISON_EPOCHS = 10
# Case (d) has no trainable weights by design: its dictionary learns by its
# own rule inside the layer, and Keras warns about that on every `fit`.
NO_TRAINABLE_WEIGHTS = "The model does not have any trainable weights"


def build_models(*, units, k, keys=CASES):
    """The compiled case models of `keys` (all five by default)."""
    models = {}
    presets = ORIGINAL.with_overrides(units=units, k=k).cases
    for key in keys:
        settings = presets[key]
        if key == "k_sparse":
            # The schedule whose cost `end_annealing` measures.
            settings = dataclasses.replace(settings, k_start=min(100, units))
        keras.utils.set_random_seed(0)
        models[key] = build_case(
            key,
            settings,
            training_steps=COMPARISON_STEPS_PER_EPOCH * COMPARISON_EPOCHS,
        ).model
    return models


def end_annealing(model):
    """Sets every `KSparse` of `model` past its schedule: k_t = k from now."""
    for layer in model.layers:
        if isinstance(layer, KSparse):
            layer.step.assign(layer.anneal_steps)


def with_keras_l2(model):
    """Swaps every `WeightDecay(s)` of `model` for Keras's `L2(s / 2)`.

    The same penalty, computed by Keras's own regularizer: the reference
    for what weight decay costs in a Keras train step. Call it before the
    model's first step.
    """
    for variable in model.trainable_variables:
        if isinstance(variable.regularizer, WeightDecay):
            strength = variable.regularizer.strength
            variable.regularizer = keras.regularizers.L2(strength / 2)


def step_times(models, images, *, batch_size, repeats, calls, warmup):
    """Train-step time of each case, interleaved, with ratios to `plain`.

    Returns:
        `timing.summarize`'s dict, keyed by case.
    """
    batch = keras.ops.convert_to_tensor(images[:batch_size])
    contenders = {
        key: _train_on_batch(model, batch) for key, model in models.items()
    }
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=NO_TRAINABLE_WEIGHTS)
        seconds = timing.interleaved(
            contenders, repeats=repeats, calls=calls, warmup=warmup
        )
    return timing.summarize(seconds, BASELINE)


def epoch_times(models, images, *, batch_size, repeats):
    """Seconds per `fit` epoch of each case, interleaved, with ratios.

    Each model first fits a few batches, the last one as short as an
    epoch's last batch, so that every batch shape is traced before the
    timed epochs.

    Returns:
        `timing.summarize`'s dict, keyed by case.
    """
    warmup_images = images[: 2 * batch_size + len(images) % batch_size]
    contenders = {
        key: _fit_epoch(model, images, batch_size)
        for key, model in models.items()
    }
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=NO_TRAINABLE_WEIGHTS)
        for model in models.values():
            model.fit(
                warmup_images,
                warmup_images,
                batch_size=batch_size,
                epochs=1,
                verbose=0,
            )
        seconds = timing.interleaved(
            contenders, repeats=repeats, calls=1, warmup=0
        )
    return timing.summarize(seconds, BASELINE)


def _train_on_batch(model, batch):
    return lambda: model.train_on_batch(batch, batch)


def _fit_epoch(model, images, batch_size):
    return lambda: model.fit(
        images, images, batch_size=batch_size, epochs=1, verbose=0
    )
