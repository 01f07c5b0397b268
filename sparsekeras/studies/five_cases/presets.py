"""The settings each case is trained with: `original` and `paper`.

`original` re-expresses the comparison as its author ran it (Jae Duk Seo,
2018): 784-100-784 without biases, the first 10,000 training images, batches
of 100, Adam at 1e-3 on `½‖x − x̂‖²` per image. `paper` trains each case as
its own source prescribes: UFLDL's MNIST exercise for (a) to (c), Arora et
al. for (d), Makhzani & Frey for (e). Each preset lists its deliberate
deviations from the source, and `report.md` prints them.
"""

import dataclasses

UNIFORM = "uniform"
NORMAL = "normal"


@dataclasses.dataclass(frozen=True)
class CaseSettings:
    """How one case is built and trained.

    Attributes:
        units: hidden units (dictionary atoms for (d)).
        use_bias: whether the layers have biases.
        initializer: `"uniform"`, ±√(6 / (784 + units + 1)) (UFLDL's), or
            `"normal"`, N(0, 0.01²) (Makhzani & Frey's).
        optimizer: `"adam"`, `"sgd"` (with `momentum`), or `None` for (d),
            whose dictionary learns by its own rule.
        learning_rate: the optimizer's rate, or the neural update's `η` for
            (d).
        momentum: SGD's momentum.
        cost_scale: the cost of one image is `cost_scale·‖x − x̂‖²`.
        weight_decay: `λ` of `WeightDecay` on the kernels, 0 for none.
        rho: target activation of the KL penalty, `None` for none.
        beta: weight of the KL penalty.
        k: units kept per code ((d) and (e)).
        k_start: `k` at the first step, lowered linearly to `k` over the
            first half of training; `None` for no schedule.
        alpha: (e) keeps the `αk` largest units at test time.
        refine_steps: (d)'s code refinement steps toward least squares;
            0 is the paper's one-step decoding.
    """

    units: int
    use_bias: bool = False
    initializer: str = UNIFORM
    optimizer: str | None = "adam"
    learning_rate: float = 1e-3
    momentum: float = 0.0
    cost_scale: float = 0.5
    weight_decay: float = 0.0
    rho: float | None = None
    beta: float = 3.0
    k: int | None = None
    k_start: int | None = None
    alpha: float = 1.0
    refine_steps: int = 0


@dataclasses.dataclass(frozen=True)
class Preset:
    """A named set of settings for the whole comparison.

    Attributes:
        name: `"original"` or `"paper"`.
        summary: one sentence for the report.
        epochs: training epochs of every case.
        batch_size: images per step (every case but (e) under `paper`
            uses it; see `cases`).
        train_images: how many of the first training images are used,
            `None` for all.
        cases: the `CaseSettings` of each case key.
        batch_sizes: per-case batch sizes that differ from `batch_size`.
        deviations: each deliberate difference from the source, with why,
            apart from the number of epochs (see `all_deviations`).
        source_epochs: the source's number of epochs, `None` where the
            sources differ or give none.
        epochs_reason: why the preset's default differs from it.
    """

    name: str
    summary: str
    epochs: int
    batch_size: int
    train_images: int | None
    cases: dict
    deviations: tuple
    batch_sizes: dict = dataclasses.field(default_factory=dict)
    source_epochs: int | None = None
    epochs_reason: str = ""

    def all_deviations(self):
        """`deviations`, after a line on the epochs if they differ."""
        if self.source_epochs is None or self.epochs == self.source_epochs:
            return self.deviations
        epochs = (
            f"{self.epochs} epochs, not the source's {self.source_epochs}: "
            f"{self.epochs_reason}; `--epochs {self.source_epochs}` gives "
            "the source's length."
        )
        return (epochs, *self.deviations)

    def batch_size_of(self, key):
        """The batch size case `key` is trained with."""
        return self.batch_sizes.get(key, self.batch_size)

    def with_overrides(
        self, *, epochs=None, batch_size=None, units=None, k=None
    ):
        """This preset with the command line's overrides applied."""
        cases = {}
        for key, settings in self.cases.items():
            changes = {}
            if units is not None:
                changes["units"] = units
            if k is not None and settings.k is not None:
                changes["k"] = k
                if settings.k_start is not None:
                    changes["k_start"] = max(k, settings.k_start)
            if units is not None and settings.k_start is not None:
                changes["k_start"] = min(
                    changes.get("k_start", settings.k_start), units
                )
            cases[key] = dataclasses.replace(settings, **changes)
        return dataclasses.replace(
            self,
            epochs=self.epochs if epochs is None else epochs,
            batch_size=self.batch_size if batch_size is None else batch_size,
            batch_sizes={} if batch_size is not None else self.batch_sizes,
            cases=cases,
        )

    def largest_k(self):
        """The largest `k` (and `k_start`) of any case, for validation."""
        return max(max(s.k or 0, s.k_start or 0) for s in self.cases.values())


ORIGINAL_WEIGHT_DECAY = 3e-3
ORIGINAL_UNITS = 100
K = 25

ORIGINAL = Preset(
    name="original",
    summary=(
        "the original comparison's settings (Jae Duk Seo, 2018): 784-100-784"
        " without biases, the first 10,000 training images, batches of 100,"
        " Adam at 1e-3 on ½‖x − x̂‖² per image averaged over the batch,"
        " uniform ±√(6/885) initialisation"
    ),
    epochs=100,
    source_epochs=500,
    epochs_reason=(
        "the preset's default of 100 trains a fifth as long (the report "
        "gives this run's training time; README.md the whole command's, "
        "with the command that measured it)"
    ),
    batch_size=100,
    train_images=10_000,
    cases={
        "plain": CaseSettings(ORIGINAL_UNITS),
        "weight_decay": CaseSettings(
            ORIGINAL_UNITS, weight_decay=ORIGINAL_WEIGHT_DECAY
        ),
        "kl_sparse": CaseSettings(
            ORIGINAL_UNITS, weight_decay=ORIGINAL_WEIGHT_DECAY, rho=0.1
        ),
        "neural_sparse_coding": CaseSettings(
            ORIGINAL_UNITS, optimizer=None, learning_rate=0.1, k=K
        ),
        "k_sparse": CaseSettings(
            ORIGINAL_UNITS, weight_decay=ORIGINAL_WEIGHT_DECAY, k=K
        ),
    },
    deviations=(
        "float32, not float64: Keras's default, and what every backend "
        "runs fast.",
        "Keras's Adam, with the bias correction 1/(1 − βᵗ); the original's "
        "hand-written Adam divides by (1 − β) instead, which scales its "
        "first steps differently.",
        "(d) keeps exactly k = 25 atoms per image with `NeuralSparseCoding`"
        " and moves its dictionary by the layer's own neural rule (rate "
        "0.1, the batch mean, atoms renormalised), started from normalised "
        "training images with `adapt`. The original kept the units above a "
        "batch-wide threshold (the mean of each row's 50 largest values) "
        "and fed the batch-summed update through Adam: a variant of Arora "
        "et al.'s rule that the layer does not reproduce.",
        "(e) keeps exactly k = 25 units per image with `KSparse`; the "
        "original kept every unit above the batch's smallest 25th-largest "
        "value, so some images kept more than 25.",
    ),
)

PAPER = Preset(
    name="paper",
    summary=(
        "each case as its own source prescribes: UFLDL's MNIST sparse "
        "autoencoder exercise for (a) to (c), Arora et al. (2015) for (d), "
        "Makhzani & Frey (2013) for (e), on every training image"
    ),
    epochs=30,
    batch_size=100,
    train_images=None,
    cases={
        "plain": CaseSettings(196, use_bias=True),
        "weight_decay": CaseSettings(
            196, use_bias=True, weight_decay=ORIGINAL_WEIGHT_DECAY
        ),
        "kl_sparse": CaseSettings(
            196, use_bias=True, weight_decay=ORIGINAL_WEIGHT_DECAY, rho=0.1
        ),
        "neural_sparse_coding": CaseSettings(
            1000, optimizer=None, learning_rate=0.1, k=K
        ),
        "k_sparse": CaseSettings(
            1000,
            use_bias=True,
            initializer=NORMAL,
            optimizer="sgd",
            learning_rate=0.01,
            momentum=0.9,
            cost_scale=1.0,
            k=K,
            k_start=100,
            alpha=3.0,
        ),
    },
    batch_sizes={"k_sparse": 128},
    deviations=(
        "(a) to (c): minibatch Adam at 1e-3 (batches of 100) for the "
        "epochs above, in place of the exercise's 400 iterations of "
        "full-batch L-BFGS, which Keras does not provide; and every "
        "training image, not the exercise's first 10,000.",
        "(d): Arora et al. give no MNIST settings. m = 1000 atoms and "
        "k = 25 as in (e), started from normalised training images with "
        "`adapt`, and η = 0.1, i.e. 0.0025·m/k: the paper's η = Θ(m/k) "
        "assumes incoherent atoms, and raw, uncentred pixels make them "
        "alike, so that A^T y overshoots: on the embedded sample, 3 epochs "
        "with η = 0.1·m/k = 4 leave a test MSE of 4.36 (pixels are in "
        "[0, 1]), with η = 0.1 one of 0.083.",
        "(e): the paper trains for thousands of epochs; this run's epochs "
        "are in the settings above. The paper's cost ‖x − x̂‖² per image, "
        "averaged over the batch.",
        "float32 everywhere, not the sources' float64 (UFLDL's MATLAB).",
    ),
)

PRESETS = {preset.name: preset for preset in (ORIGINAL, PAPER)}
