"""One resolved configuration of a comparison run: `ComparisonConfig`.

The command line and `run_comparison` both build it with
`ComparisonConfig.resolve`, which applies the command line's overrides to
the preset once; it is validated once, in `__post_init__`, and passed
down whole. Nothing here imports Keras, so that the command line checks
its arguments in well under a second.
"""

import dataclasses

from sparsekeras.studies.five_cases import presets, registry

MAX_SEED = 2**32 - 1
# 784 x 65,536 float32 weights are 205 MB per matrix; more is a typo, not a
# study of MNIST.
MAX_UNITS = 2**16
DATA_NAMES = ("embedded", "full")
REPORT_FILES = ("report.md", "report.json", "cost_curves.png")


def case_files(key):
    """The files a case writes: its pictures by kind, and its model."""
    return {
        "filters": f"{key}_filters.png",
        "reconstructions": f"{key}_reconstructions.png",
        "cost": f"{key}_cost.png",
        "model": f"{key}.keras",
    }


@dataclasses.dataclass(frozen=True)
class ComparisonConfig:
    """Everything one comparison run needs, resolved and validated.

    Attributes:
        preset: the `presets.Preset`, with the overrides already applied.
        cases: the `registry.CaseName`s to run, in report order.
        seed: seed of initialisation and shuffling, the same for each case.
        data: `"embedded"`, `"full"`, or a path to an `.npz`, as the user
            gave it (so a report records no machine's absolute path).
        max_steps: at most this many steps per epoch, or `None`.
        verbose: 1 shows Keras progress bars and one line per case; 0 is
            silent.
    """

    preset: presets.Preset
    cases: tuple
    seed: int = 0
    data: str = "embedded"
    max_steps: int | None = None
    verbose: int = 1

    def __post_init__(self):
        if not self.cases:
            raise ConfigError(
                "cases",
                "Invalid value for `cases`, expected at least one case. "
                "Received: cases=()",
            )
        keys = [case.key for case in self.cases]
        twice = sorted({key for key in keys if keys.count(key) > 1})
        if twice:
            raise ConfigError(
                "cases",
                "Invalid value for `cases`, expected each case once. "
                f"Received: {', '.join(twice)} more than once (refused, not "
                "deduplicated)",
            )
        _check_int("seed", self.seed, 0, MAX_SEED)
        if self.max_steps is not None:
            _check_int("max_steps", self.max_steps, 1, None)
        _check_int("epochs", self.preset.epochs, 1, None)
        if not isinstance(self.data, str) or not self.data:
            raise ConfigError(
                "data",
                "Invalid value for `data`, expected 'embedded', 'full' or "
                f"the path of an .npz file. Received: data={self.data!r}",
            )
        for case in self.cases:
            settings = self.preset.cases[case.key]
            _check_int("batch_size", self.preset.batch_size_of(case.key), 1)
            _check_int("units", settings.units, 1, MAX_UNITS)
            if settings.k is not None:
                _check_int("k", settings.k, 1, settings.units, case.key)

    @classmethod
    def resolve(
        cls,
        *,
        preset="original",
        cases=registry.KEYS,
        epochs=None,
        batch_size=None,
        units=None,
        k=None,
        seed=0,
        data="embedded",
        max_steps=None,
        verbose=1,
    ):
        """The configuration of a run from its arguments.

        Args:
            preset: `"original"` or `"paper"` (`presets.PRESETS`).
            cases: keys or letters of `registry.CASES`, in report order.
            epochs, batch_size, units, k: override the preset's (`None`
                keeps them).
            seed, data, max_steps, verbose: as the attributes.
        """
        if preset not in presets.PRESETS:
            raise ConfigError(
                "preset",
                "Invalid value for `preset`, expected one of "
                f"{sorted(presets.PRESETS)}. Received: preset={preset!r}",
            )
        if isinstance(cases, str):
            cases = cases.split(",")
        return cls(
            preset=presets.PRESETS[preset].with_overrides(
                epochs=epochs, batch_size=batch_size, units=units, k=k
            ),
            cases=_lookup_cases(cases),
            seed=seed,
            data=data if isinstance(data, str) else str(data),
            max_steps=max_steps,
            verbose=verbose,
        )

    @property
    def keys(self):
        """The keys of the chosen cases, in report order."""
        return tuple(case.key for case in self.cases)

    def files(self):
        """Every file a run may write in its output folder."""
        names = list(REPORT_FILES)
        for key in self.keys:
            names += case_files(key).values()
        return tuple(names)


def _lookup_cases(names):
    try:
        return tuple(registry.lookup(name.strip()) for name in names)
    except ValueError as error:
        raise ConfigError("cases", str(error)) from None


class ConfigError(ValueError):
    """A `ValueError` that names the argument at fault, as `argument`."""

    def __init__(self, argument, message):
        super().__init__(message)
        self.argument = argument


def _check_int(name, value, low, high=None, case=None):
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or value < low
        or (high is not None and value > high)
    ):
        where = f" for case {case}" if case else ""
        if name == "k":
            expected = f"k <= units ({high})"
        elif high is None:
            expected = f"an integer >= {low}"
        else:
            expected = f"an integer from {low} to {high}"
        raise ConfigError(
            name,
            f"Invalid value for `{name}`{where}, expected {expected}. "
            f"Received: {name}={value!r}",
        )
