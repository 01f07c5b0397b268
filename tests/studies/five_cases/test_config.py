"""One resolved configuration of a comparison run, validated once."""

import dataclasses

import pytest

from sparsekeras.studies import cli
from sparsekeras.studies.five_cases import config, presets, registry, run
from sparsekeras.studies.five_cases.config import ComparisonConfig


def test_resolve_applies_the_overrides_to_the_preset_once():
    chosen = ComparisonConfig.resolve(
        preset="paper", cases="e,a", epochs=3, batch_size=7, units=40, k=5
    )
    assert chosen.keys == ("k_sparse", "plain")
    assert chosen.cases[0] is registry.lookup("e")
    assert chosen.preset.epochs == 3
    assert chosen.preset.batch_size_of("k_sparse") == 7
    assert chosen.preset.cases["k_sparse"].units == 40
    assert chosen.preset.cases["k_sparse"].k == 5
    assert chosen.preset.cases["k_sparse"].k_start == 40


def test_the_config_is_frozen():
    chosen = ComparisonConfig.resolve()
    with pytest.raises(dataclasses.FrozenInstanceError):
        chosen.seed = 1


@pytest.mark.parametrize(
    "arguments, argument",
    [
        (dict(cases="a,a"), "cases"),
        (dict(cases="a,q"), "cases"),
        (dict(cases=()), "cases"),
        (dict(seed=-1), "seed"),
        (dict(seed=2**32), "seed"),
        (dict(units=config.MAX_UNITS + 1), "units"),
        (dict(units=10, k=25), "k"),
        (dict(epochs=0), "epochs"),
        (dict(max_steps=0), "max_steps"),
        (dict(preset="mine"), "preset"),
        (dict(data=""), "data"),
    ],
)
def test_an_invalid_config_names_its_argument(arguments, argument):
    with pytest.raises(config.ConfigError) as error:
        ComparisonConfig.resolve(**arguments)
    assert error.value.argument == argument
    assert f"`{argument}" in str(error.value) or argument == "cases"


def test_a_config_built_directly_is_validated_too():
    with pytest.raises(ValueError, match="k <= units"):
        ComparisonConfig(
            preset=presets.ORIGINAL.with_overrides(units=5),
            cases=(registry.lookup("e"),),
        )


def test_the_files_of_a_run_are_those_of_its_cases():
    files = ComparisonConfig.resolve(cases="a").files()
    assert set(files) == {
        "report.md",
        "report.json",
        "cost_curves.png",
        "plain.keras",
        "plain_filters.png",
        "plain_reconstructions.png",
        "plain_cost.png",
    }


def test_the_command_line_passes_one_resolved_config_down(
    tmp_path, monkeypatch
):
    received = []

    def compare(chosen, out_dir, *, overwrite):
        received.append(chosen)
        return {"cases": [], "verdicts": []}

    monkeypatch.setattr(run, "compare", compare)
    argv = ["compare", "--cases", "b", "--units", "30", "--k", "4", "--quiet"]
    assert cli.main([*argv, "--out", str(tmp_path)]) == 0
    (chosen,) = received
    assert chosen == ComparisonConfig.resolve(
        cases="b", units=30, k=4, verbose=0
    )
