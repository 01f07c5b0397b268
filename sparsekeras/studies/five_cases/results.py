"""What the comparison measured of one case: a `CaseResult`."""

import dataclasses

TRAINED = "trained"
DIVERGED = "diverged"


@dataclasses.dataclass
class CaseResult:
    """The measurements of one case, one entry of `report.json`'s `cases`.

    A case whose cost turned non-finite stops early with `status="diverged"`
    and no measurements (`None`, `null` in `report.json`).

    Attributes:
        key, letter, title: the case's names (`registry.CASES`).
        status: `"trained"` or `"diverged"`.
        reconstruction_mse: mean squared error per test pixel.
        active_units: mean number of active units per test image.
        active_threshold: `|code|` above which a unit is active.
        mean_activation: mean `|code|` on the test images.
        dead_fraction: `metrics.dead_unit_fraction` of the test codes.
        probe_accuracy: linear probe's test accuracy on the codes.
        reader_accuracy: the pixel reader's accuracy on the reconstructions.
        filter_smoothness: `metrics.filter_smoothness` of live units'
            filters.
        class_selectivity: `metrics.mean_class_selectivity` of the test
            codes.
        stroke_fraction: `metrics.stroke_fraction` of live units' filters.
        sharpness_ratio: sharpness of reconstructions over originals'.
        convergence_epoch: first epoch within 5% of the final cost.
        wall_time_s: training time in seconds.
        cost_per_epoch: training cost at the end of each epoch.
        pictures: file names of the `filters`, `reconstructions`, `cost`.
        model: file name of the saved `.keras` model.
    """

    key: str
    letter: str
    title: str
    status: str = TRAINED
    reconstruction_mse: float | None = None
    active_units: float | None = None
    active_threshold: float | None = None
    mean_activation: float | None = None
    dead_fraction: float | None = None
    probe_accuracy: float | None = None
    reader_accuracy: float | None = None
    filter_smoothness: float | None = None
    class_selectivity: float | None = None
    stroke_fraction: float | None = None
    sharpness_ratio: float | None = None
    convergence_epoch: int | None = None
    wall_time_s: float | None = None
    cost_per_epoch: list = dataclasses.field(default_factory=list)
    pictures: dict = dataclasses.field(default_factory=dict)
    model: str | None = None

    @property
    def measured(self):
        """Whether the case trained to the end and was measured."""
        return self.status == TRAINED

    def to_dict(self):
        """The JSON-ready dict of `report.json`."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, content):
        """The inverse of `to_dict`."""
        return cls(**content)
