"""Dictionary recovery: `NeuralSparseCoding` against scikit-learn.

The problem is the one of Arora, Ge, Ma & Moitra's theorem: a dictionary
`A*` of `units` random unit-norm atoms in `input_dim` dimensions, signals
`y = A* x*` whose codes `x*` have `k` nonzeros of random sign and magnitude
uniform in [1, 2], and a start `A0` whose every column is exactly `delta`
away from the truth's. Every contender starts from the same `A0` and sees
the same batches, in the same order; batches are generated before a step
and its timer.

After each batch, every true atom is matched to the learned atom of
largest |cosine| with it (sign allowed), and its error is the distance
between the two unit vectors, `sqrt(2 - 2 |cos|)`. A contender has
recovered the dictionary when every atom's error is below 0.1; the wall
time to recovery is the sum of its step times up to that batch.

scikit-learn's `MiniBatchDictionaryLearning` takes `dict_init=A0` and one
`partial_fit` per batch, with `fit_algorithm="lars"` (its LARS-Lasso codes:
"cd" took about 10 s per 1,024 signals in a pilot run, LARS about 4 s) and
`alpha=0.1` (0.2 and 1.0 needed more batches in the same pilot). Its
`transform_algorithm` only matters to `transform`, which is not used.

The neural sparse coding contenders are `NeuralSparseCoding` layers
stepped by `train_on_batch`: with a constant rate, and with a decaying one
(a `keras.optimizers.schedules.InverseTimeDecay` as `learning_rate`),
alone or with the codes refined by `refine_steps`.

Batches are of `units * k` signals, the paper's batch size
`p = Omega~(mk)`. It also suits scikit-learn: on a batch where an atom is
used by no code, `partial_fit` replaces that atom by a random signal (an
atom is used `batch * k / units` times per batch on average, so batches
of 256 for 1024 atoms and k = 4 replace about a third of a good start).
"""

import dataclasses
import time
import warnings

import keras
import numpy as np

from sparsekeras.layers import NeuralSparseCoding

RECOVERED_ERROR = 0.1


@dataclasses.dataclass(frozen=True)
class Decay:
    """A contender whose rate decays as `initial_rate / (1 + t / decay_steps)`.

    Attributes:
        initial_rate: the rate at the first step.
        decay_steps: the steps after which the rate has halved.
        refine_steps: the layer's `refine_steps`; a positive value names
            the contender `..._refined`, `0` names it `..._decay`.
    """

    initial_rate: float
    decay_steps: int
    refine_steps: int = 0

    @property
    def suffix(self):
        return "refined" if self.refine_steps else "decay"

    def schedule(self):
        return keras.optimizers.schedules.InverseTimeDecay(
            self.initial_rate, decay_steps=self.decay_steps, decay_rate=1.0
        )


@dataclasses.dataclass(frozen=True)
class Setting:
    """One synthetic recovery problem and how long to run it.

    Attributes:
        name: key of the setting in the results.
        input_dim: `n`, the signals' dimension.
        units: `m`, the number of atoms.
        k: nonzeros per code.
        delta: distance of every starting atom to its true atom.
        batches: batches that every contender sees.
        extra_batches: further batches given to the neural sparse coding
            contenders only, while their time stays below scikit-learn's
            total: what they reach in the same wall time.
        decoders: `"threshold"` and/or `"top_k"`: one `NeuralSparseCoding`
            contender with a constant rate for each.
        learning_rate: their constant rate.
        decays: `Decay`s, one more contender each, with the last of
            `decoders`.
        threshold: the threshold decoder's threshold.
        sklearn_alpha: scikit-learn's Lasso penalty.
    """

    name: str
    input_dim: int
    units: int
    k: int
    delta: float
    batches: int
    extra_batches: int
    decoders: tuple
    learning_rate: float
    decays: tuple
    threshold: float
    sklearn_alpha: float = 0.1

    @property
    def batch_size(self):
        return self.units * self.k


def unit_columns(matrix):
    """`matrix` with every column scaled to unit norm."""
    return matrix / np.linalg.norm(matrix, axis=0, keepdims=True)


def delta_close(truth, delta, rng):
    """Unit columns, each exactly `delta` from `truth`'s, in a random way."""
    direction = rng.standard_normal(truth.shape)
    direction -= truth * np.sum(direction * truth, axis=0)
    angle = 2.0 * np.arcsin(delta / 2.0)
    return np.cos(angle) * truth + np.sin(angle) * unit_columns(direction)


def draw_signals(truth, k, count, rng):
    """`count` signals `A* x*`, each `x*` with `k` nonzeros of size 1 to 2."""
    units = truth.shape[1]
    support = np.argpartition(rng.random((count, units)), k, axis=1)[:, :k]
    values = rng.uniform(1.0, 2.0, (count, k)) * rng.choice(
        [-1.0, 1.0], (count, k)
    )
    return np.einsum("ck,ckd->cd", values, truth.T[support]).astype("float32")


def column_errors(learned, truth):
    """Each true atom's error to its best-matched learned atom.

    Returns:
        The errors `sqrt(2 - 2 |cos|)`, one per true atom, and how many
        distinct learned atoms the true ones matched.
    """
    cosines = np.abs(truth.T @ unit_columns(learned))
    best = np.max(cosines, axis=1)
    distinct = len(np.unique(np.argmax(cosines, axis=1)))
    return np.sqrt(np.maximum(2.0 - 2.0 * best, 0.0)), distinct


class NeuralSparseCodingContender:
    """A `NeuralSparseCoding` model stepped by `train_on_batch`.

    `layer_kwargs` go to the layer: its decoder (`threshold` or `k`),
    `learning_rate` (a number or a schedule) and `refine_steps`.
    """

    def __init__(self, start, **layer_kwargs):
        input_dim, units = start.shape
        self.layer = NeuralSparseCoding(
            units, output_mode="reconstruction", **layer_kwargs
        )
        inputs = keras.Input((input_dim,))
        self.model = keras.Model(inputs, self.layer(inputs))
        self.model.compile(loss="mse")
        self.layer.dictionary.assign(start)

    def step(self, batch):
        with warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore", message="The model does not have any trainable"
            )
            self.model.train_on_batch(batch, batch)

    def dictionary(self):
        return keras.ops.convert_to_numpy(self.layer.dictionary)


class ScikitLearnContender:
    """`MiniBatchDictionaryLearning`, one `partial_fit` per batch."""

    def __init__(self, start, *, alpha, seed):
        from sklearn.decomposition import MiniBatchDictionaryLearning

        self.estimator = MiniBatchDictionaryLearning(
            n_components=start.shape[1],
            alpha=alpha,
            fit_algorithm="lars",
            dict_init=start.T.copy(),
            shuffle=False,
            random_state=seed,
        )

    def step(self, batch):
        from sklearn.exceptions import ConvergenceWarning

        with warnings.catch_warnings():
            # LARS stops early on some codes and says so, once per code.
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.estimator.partial_fit(batch)

    def dictionary(self):
        return self.estimator.components_.T


def run(setting, *, seed):
    """Runs every contender of `setting` on one problem.

    Returns:
        A dict with the setting and, for each contender, its curve (one
        point per batch: samples, seconds, max and mean error), its
        recovery and its final errors; the neural sparse coding contenders
        also report where the extra batches took them.
    """
    rng = np.random.default_rng(seed)
    truth = unit_columns(
        rng.standard_normal((setting.input_dim, setting.units))
    )
    start = delta_close(truth, setting.delta, rng).astype("float32")
    contenders = _contenders(setting, start, seed)
    curves = {name: [] for name in contenders}
    elapsed = dict.fromkeys(contenders, 0.0)
    names = list(contenders)
    for batch_index in range(setting.batches):
        batch = draw_signals(truth, setting.k, setting.batch_size, rng)
        shift = batch_index % len(names)
        for name in names[shift:] + names[:shift]:
            elapsed[name] += _timed_step(contenders[name], batch)
            curves[name].append(
                _point(
                    contenders[name], truth, batch_index, setting, elapsed[name]
                )
            )
    same_time = _same_time(setting, truth, rng, contenders, elapsed)
    return {
        "setting": dataclasses.asdict(setting)
        | {"batch_size": setting.batch_size},
        "seed": seed,
        "contenders": {
            name: _summary(curves[name], same_time.get(name)) for name in names
        },
    }


def _contenders(setting, start, seed):
    contenders = {
        f"nsc_{decoder}": NeuralSparseCodingContender(
            start,
            learning_rate=setting.learning_rate,
            **_decoder(setting, decoder),
        )
        for decoder in setting.decoders
    }
    decoder = setting.decoders[-1]
    for decay in setting.decays:
        contenders[f"nsc_{decoder}_{decay.suffix}"] = (
            NeuralSparseCodingContender(
                start,
                learning_rate=decay.schedule(),
                refine_steps=decay.refine_steps,
                **_decoder(setting, decoder),
            )
        )
    contenders["sklearn"] = ScikitLearnContender(
        start, alpha=setting.sklearn_alpha, seed=seed
    )
    return contenders


def _decoder(setting, decoder):
    if decoder == "threshold":
        return {"threshold": setting.threshold}
    return {"k": setting.k}


def _timed_step(contender, batch):
    start = time.perf_counter()
    contender.step(batch)
    return time.perf_counter() - start


def _point(contender, truth, batch_index, setting, seconds):
    errors, distinct = column_errors(contender.dictionary(), truth)
    return {
        "samples": (batch_index + 1) * setting.batch_size,
        "seconds": seconds,
        "max_error": float(errors.max()),
        "mean_error": float(errors.mean()),
        "distinct_matches": distinct,
    }


def _same_time(setting, truth, rng, contenders, elapsed):
    """Extra batches for the neural contenders, within scikit-learn's time."""
    neural = [name for name in contenders if name != "sklearn"]
    extra = {name: [] for name in neural}
    for batch_index in range(
        setting.batches, setting.batches + setting.extra_batches
    ):
        running = [
            name for name in neural if elapsed[name] < elapsed["sklearn"]
        ]
        if not running:
            break
        batch = draw_signals(truth, setting.k, setting.batch_size, rng)
        for name in running:
            elapsed[name] += _timed_step(contenders[name], batch)
            extra[name].append(
                _point(
                    contenders[name], truth, batch_index, setting, elapsed[name]
                )
            )
    return {name: points for name, points in extra.items() if points}


def _summary(curve, extra):
    recovered = next(
        (point for point in curve if point["max_error"] < RECOVERED_ERROR), None
    )
    steps = np.diff([0.0] + [point["seconds"] for point in curve])
    summary = {
        "recovered": recovered is not None,
        "samples_to_recovery": recovered["samples"] if recovered else None,
        "seconds_to_recovery": recovered["seconds"] if recovered else None,
        "median_step_s": float(np.median(steps)),
        "final": curve[-1],
        "curve": curve,
    }
    if extra:
        summary["same_time"] = extra[-1]
        summary["same_time_curve"] = extra
    return summary


SPARSE = Setting(
    name="sparse_512x1024",
    input_dim=512,
    units=1024,
    k=4,
    delta=0.3,
    batches=6,
    extra_batches=60,
    decoders=("threshold",),
    learning_rate=64.0,
    decays=(Decay(128.0, 6), Decay(128.0, 12, refine_steps=2)),
    threshold=0.5,
)
"""The theorem's regime: `m / k = 256` and incoherent atoms.

The threshold 0.5 sits between the cross-talk of the other atoms (a
standard deviation of `sqrt(k) * rms|x*| / sqrt(n)`, about 0.14) and a
true code (at least `1 - delta**2 / 2`, about 0.96, at the start). The
rate 64 is the paper's `Theta(m / k)` with the constant 1/4: each batch
moves an atom about `64 * (k / m) * E|x*| ~ 0.37` of its way to its fixed
point; 128 (0.75) recovers in fewer batches but settles noisier, hence
the decay contender, `128 / (1 + step / 6)`. That one settles at the
bias of the one-step codes; the refined contender removes the bias with
two refinement steps, and its rate decays more slowly,
`128 / (1 + step / 12)`, as its error no longer needs the rate to fall
to shrink.
"""

DENSE = Setting(
    name="dense_64x128",
    input_dim=64,
    units=128,
    k=4,
    delta=0.3,
    batches=40,
    extra_batches=200,
    decoders=("threshold", "top_k"),
    learning_rate=8.0,
    decays=(Decay(16.0, 6), Decay(16.0, 6, refine_steps=2)),
    threshold=0.5,
)
"""Denser codes relative to the dimension: the threshold decoder misfires.

The cross-talk's standard deviation is about 0.38 here, so the threshold
0.5 keeps wrong atoms and drops true ones; the top-k decoder keeps exactly
the `k` largest. The rate 8 gives the same per-batch move as 64 does in
`SPARSE` (`m / k` is 32 here), and the decay contenders are top-k with
`16 / (1 + step / 6)`, without and with two refinement steps.
"""


QUICK_SPARSE = dataclasses.replace(
    SPARSE,
    name="sparse_128x128_quick",
    input_dim=128,
    units=128,
    k=2,
    batches=3,
    extra_batches=3,
    learning_rate=16.0,
    decays=(Decay(16.0, 6), Decay(16.0, 12, refine_steps=2)),
)
"""`SPARSE` in seconds, for smoke runs (`m / k = 64`, rates scaled)."""

QUICK_DENSE = dataclasses.replace(
    DENSE,
    name="dense_32x64_quick",
    input_dim=32,
    units=64,
    batches=2,
    extra_batches=0,
    learning_rate=4.0,
    decays=(Decay(8.0, 6), Decay(8.0, 6, refine_steps=2)),
)
"""`DENSE` in seconds, for smoke runs (`m / k = 16`, rate scaled)."""
