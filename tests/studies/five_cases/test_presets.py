from sparsekeras.studies.five_cases import presets


def test_default_epochs_are_stated_as_a_deviation_from_the_source():
    first = presets.ORIGINAL.all_deviations()[0]
    assert first.startswith("100 epochs, not the source's 500")
    assert "`--epochs 500`" in first


def test_the_source_length_is_not_a_deviation():
    full = presets.ORIGINAL.with_overrides(epochs=500)
    assert full.all_deviations() == presets.ORIGINAL.deviations
    assert not any("epochs" in d for d in full.all_deviations()[:1])


def test_other_lengths_name_their_own_epochs():
    short = presets.ORIGINAL.with_overrides(epochs=7)
    assert short.all_deviations()[0].startswith("7 epochs, not the source's")


def test_a_preset_without_a_source_length_adds_no_epochs_line():
    assert presets.PAPER.source_epochs is None
    assert presets.PAPER.all_deviations() == presets.PAPER.deviations
