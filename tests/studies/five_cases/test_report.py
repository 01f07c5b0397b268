import dataclasses
import json

import pytest

from sparsekeras.studies.five_cases import presets, registry, report
from sparsekeras.studies.five_cases.results import DIVERGED, CaseResult


def _result(letter, **overrides):
    name = registry.lookup(letter)
    result = CaseResult(
        name.key,
        name.letter,
        name.title,
        reconstruction_mse=0.01,
        active_units=25.0,
        active_threshold=0.0,
        mean_activation=0.1,
        dead_fraction=0.0,
        probe_accuracy=0.9,
        reader_accuracy=0.9,
        filter_smoothness=0.5,
        class_selectivity=0.3,
        stroke_fraction=0.5,
        sharpness_ratio=0.8,
        convergence_epoch=5,
        wall_time_s=1.0,
        cost_per_epoch=[2.0, 1.0],
        pictures={"filters": f"{letter}_f.png"},
        model=f"{name.key}.keras",
    )
    return dataclasses.replace(result, **overrides)


def _original_outcome():
    """Measurements that agree with every observation of the comparison."""
    return [
        _result(
            "a",
            class_selectivity=0.13,
            stroke_fraction=0.1,
            sharpness_ratio=0.9,
        ),
        _result(
            "b",
            class_selectivity=0.14,
            stroke_fraction=0.2,
            sharpness_ratio=0.85,
        ),
        _result("c", sharpness_ratio=0.6, reader_accuracy=0.88),
        _result("d", reconstruction_mse=0.05, convergence_epoch=9),
        _result("e", convergence_epoch=2),
    ]


def _verdicts(results):
    return [v["verdict"] for v in report.verdicts(results, 0.92)]


def test_every_observation_is_reproduced_when_numbers_agree():
    assert _verdicts(_original_outcome()) == [report.REPRODUCED] * 4


@pytest.mark.parametrize(
    "letter, change, observation",
    [
        ("b", {"class_selectivity": 0.31}, 0),
        ("d", {"stroke_fraction": 0.25}, 0),
        ("b", {"stroke_fraction": 0.3}, 0),
        ("a", {"reconstruction_mse": 0.06}, 1),
        ("c", {"convergence_epoch": 1}, 2),
        ("c", {"sharpness_ratio": 0.95}, 3),
        ("c", {"reader_accuracy": 0.5}, 3),
    ],
)
def test_an_observation_contradicted_by_the_numbers_is_not_reproduced(
    letter, change, observation
):
    results = _original_outcome()
    index = registry.LETTERS.index(letter)
    results[index] = dataclasses.replace(results[index], **change)
    assert _verdicts(results)[observation] == report.NOT_REPRODUCED


def test_observations_needing_a_missing_case_are_not_measured():
    results = [r for r in _original_outcome() if r.letter != "d"]
    verdicts = report.verdicts(results, 0.92)
    assert [v["verdict"] for v in verdicts] == [
        report.NOT_MEASURED,
        report.NOT_MEASURED,
        report.NOT_MEASURED,
        report.REPRODUCED,
    ]
    assert "(d)" in verdicts[0]["evidence"]


def test_every_verdict_states_its_rule():
    for verdict in report.verdicts(_original_outcome(), 0.92):
        assert verdict["rule"]


def test_evidence_quotes_the_deciding_numbers():
    verdict = report.verdicts(_original_outcome(), 0.92)[1]
    assert "(d) 0.0500" in verdict["evidence"]


@pytest.mark.parametrize(
    "letter, change, observation, failure",
    [
        (
            "d",
            {"stroke_fraction": 0.18},
            0,
            "(d) has 18% stroke filters, under the 30% the rule needs",
        ),
        (
            "b",
            {"class_selectivity": 0.31},
            0,
            "(b)'s class selectivity 0.310 is not below (c)'s 0.300",
        ),
        (
            "a",
            {"reconstruction_mse": 0.06},
            1,
            "the highest test MSE is (a)'s 0.0600, not (d)'s 0.0500",
        ),
        (
            "c",
            {"convergence_epoch": 1},
            2,
            "(c) converges at epoch 1, before (e)'s epoch 2",
        ),
        (
            "c",
            {"reader_accuracy": 0.5},
            3,
            "scores (c)'s reconstructions 50.0%, under the 82.8%",
        ),
    ],
)
def test_a_failed_verdict_says_which_part_of_its_rule_failed(
    letter, change, observation, failure
):
    results = _original_outcome()
    index = registry.LETTERS.index(letter)
    results[index] = dataclasses.replace(results[index], **change)
    verdict = report.verdicts(results, 0.92)[observation]
    assert verdict["verdict"] == report.NOT_REPRODUCED
    assert "fails: " in verdict["evidence"]
    assert failure in verdict["evidence"]


def test_a_reproduced_verdict_names_no_failure():
    for verdict in report.verdicts(_original_outcome(), 0.92):
        assert "fails" not in verdict["evidence"]


def test_every_picture_has_a_caption_saying_what_to_look_at(tmp_path):
    pictures = {
        "filters": "f.png",
        "reconstructions": "r.png",
        "cost": "c.png",
    }
    results = [
        dataclasses.replace(r, pictures=pictures, dead_fraction=0.0)
        for r in _original_outcome()
    ]
    report.write(tmp_path, {"reader_accuracy_on_originals": 0.92}, results)
    lines = (tmp_path / "report.md").read_text().splitlines()
    images = [i for i, line in enumerate(lines) if line.startswith("![")]
    assert len(images) == 1 + 3 * len(results)
    for i in images:
        assert lines[i + 2].startswith("*What to look at:*"), lines[i]
    filters = lines[lines.index("![filters](f.png)") + 2]
    assert "contrast-normalised" in filters
    assert "global scale" in filters
    assert "is a weak filter, not a dead unit" in filters
    assert "this case has 0% dead units" in filters


def test_cost_caption_names_the_cases_drawn_on_a_log_axis(tmp_path):
    results = _original_outcome()
    results[3] = dataclasses.replace(results[3], cost_per_epoch=[5132.0, 9.9])
    report.write(tmp_path, {"reader_accuracy_on_originals": 0.92}, results)
    markdown = (tmp_path / "report.md").read_text()
    caption = markdown.split("![cost curves](cost_curves.png)")[1]
    assert (
        "logarithmic where the cost falls more than 10-fold. Here: (d)."
        in (caption.split("\n\n")[1])
    )


def _case_rows(preset, **settings):
    lines = report.preset_markdown(preset, registry.KEYS, settings)
    return {
        letter: next(line for line in lines if line.startswith(f"| ({letter})"))
        for letter in registry.LETTERS
    }


def test_settings_table_shows_only_the_settings_each_case_uses():
    rows = _case_rows(presets.ORIGINAL, train_images=10_000)
    assert "| (a) Plain autoencoder | 100 | 10,000 |" in rows["a"]
    for letter in "abde":
        assert "β" not in rows[letter], letter
    assert "ρ = 0.1, β = 3" in rows["c"]
    assert "weight decay" not in rows["a"]
    assert "weight decay λ = 0.003" in rows["b"]
    assert "no optimizer: the neural update at rate η = 0.1" in rows["d"]
    assert "Adam" not in rows["d"]
    assert "learning rate" not in rows["d"]
    assert "k = 25" not in rows["a"]
    paper = _case_rows(presets.PAPER, train_images=60_000)
    assert "weight decay" not in paper["e"]
    assert "momentum 0.9" in paper["e"]
    assert "| 128 |" in paper["e"]


def test_settings_table_states_the_training_images_actually_used():
    lines = report.preset_markdown(
        presets.ORIGINAL, registry.KEYS, {"train_images": 9000}
    )
    assert (
        "This run trained on 9,000 training images, not the 10,000 the "
        "preset asks for: the data held no more." in lines
    )
    rows = _case_rows(presets.ORIGINAL, train_images=9000, max_steps=2)
    assert all("| 100 | 200 |" in row for row in rows.values())


def test_report_labels_settings_plainly_and_once(tmp_path):
    settings = {
        "preset": "original",
        "batch_size": 100,
        "train_images": 9000,
        "reader_accuracy_on_originals": 0.92,
    }
    report.write(
        tmp_path, settings, _original_outcome(), preset=presets.ORIGINAL
    )
    markdown = (tmp_path / "report.md").read_text()
    assert "| training images (the probe and the reader use all) | 9000 |" in (
        markdown
    )
    assert "batch 100 |" not in markdown
    assert "| batch size | 100 |" not in markdown
    assert "| (e) k-sparse autoencoder | 100 | 9,000 |" in markdown


def test_report_says_loading_a_saved_model_needs_import_sparsekeras(
    tmp_path,
):
    report.write(
        tmp_path, {"reader_accuracy_on_originals": 0.92}, _original_outcome()
    )
    markdown = (tmp_path / "report.md").read_text()
    assert "To load one, `import sparsekeras` first" in markdown
    assert (
        "load it with `import sparsekeras` first, then "
        '`keras.saving.load_model("plain.keras")`' in markdown
    )


def test_report_gives_its_measured_training_time_not_an_estimate(tmp_path):
    settings = {"reader_accuracy_on_originals": 0.92}
    report.write(
        tmp_path, settings, _original_outcome(), preset=presets.ORIGINAL
    )
    markdown = (tmp_path / "report.md").read_text()
    assert "Training took 5.0 s of wall time in all" in markdown
    assert "minutes" not in markdown


def test_write_produces_markdown_and_json(tmp_path):
    settings = {"preset": "original", "reader_accuracy_on_originals": 0.92}
    content = report.write(tmp_path, settings, _original_outcome())
    loaded = json.loads((tmp_path / "report.json").read_text())
    assert loaded == json.loads(json.dumps(content))
    assert loaded["settings"]["preset"] == "original"
    markdown = (tmp_path / "report.md").read_text()
    assert "| (e) k-sparse autoencoder |" in markdown
    assert markdown.count("**reproduced**") == 4
    assert "![filters](a_f.png)" in markdown


def test_rules_come_before_the_numbers(tmp_path):
    settings = {"reader_accuracy_on_originals": 0.92}
    report.write(tmp_path, settings, _original_outcome())
    markdown = (tmp_path / "report.md").read_text()
    rule = report.OBSERVATIONS[1][1]
    assert markdown.index(rule) < markdown.index("## Measurements")


def test_a_diverged_case_is_reported_and_its_verdicts_not_measured(tmp_path):
    results = _original_outcome()
    results[2] = CaseResult(
        "kl_sparse",
        "c",
        "KL",
        status=DIVERGED,
        cost_per_epoch=[1.0, float("nan")],
    )
    content = report.write(
        tmp_path, {"reader_accuracy_on_originals": 0.9}, results
    )
    loaded = json.loads((tmp_path / "report.json").read_text())
    assert loaded["cases"][2]["status"] == DIVERGED
    assert loaded["cases"][2]["cost_per_epoch"] == [1.0, None]
    assert [v["verdict"] for v in content["verdicts"]] == [
        report.NOT_MEASURED
    ] * 4
    assert "**diverged**" in (tmp_path / "report.md").read_text()
