"""Output folders: a command replaces what it wrote there, nothing else."""

import json
import os

import pytest

from sparsekeras.studies import _output

NAMES = ("report.md", "plain_filters.png")


def _run(out, files, *, names=NAMES, overwrite=False, command="compare"):
    with _output.OutputFolder(
        out, command, names, overwrite=overwrite
    ) as folder:
        for name, text in files.items():
            with open(folder.path(name), "w") as file:
                file.write(text)


def test_a_first_run_creates_the_folder_and_a_manifest(tmp_path):
    out = tmp_path / "report"
    _run(out, {"report.md": "one"})
    assert (out / "report.md").read_text() == "one"
    manifest = json.loads((out / ".sparsekeras-compare.json").read_text())
    assert manifest == {"command": "compare", "files": ["report.md"]}
    assert sorted(os.listdir(tmp_path)) == ["report"]


def test_a_rerun_replaces_its_files_and_removes_those_it_no_longer_writes(
    tmp_path,
):
    out = tmp_path / "report"
    _run(out, {"report.md": "one", "plain_filters.png": "png"})
    (out / "mine.txt").write_text("the user's")
    _run(out, {"report.md": "two"})
    assert (out / "report.md").read_text() == "two"
    assert not (out / "plain_filters.png").exists()
    assert (out / "mine.txt").read_text() == "the user's"


def test_a_file_the_command_did_not_write_is_refused_before_the_run(
    tmp_path,
):
    (tmp_path / "report.md").write_text("the user's")
    with pytest.raises(_output.UserError, match="report.md.*--overwrite"):
        _output.OutputFolder(tmp_path, "compare", NAMES)
    assert (tmp_path / "report.md").read_text() == "the user's"


def test_overwrite_replaces_a_file_the_command_did_not_write(tmp_path):
    (tmp_path / "report.md").write_text("the user's")
    _run(tmp_path, {"report.md": "ours"}, overwrite=True)
    assert (tmp_path / "report.md").read_text() == "ours"


def test_a_symbolic_link_is_refused_and_its_target_left_untouched(tmp_path):
    out = tmp_path / "report"
    _run(out, {"plain_filters.png": "png"})
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes")
    (out / "plain_filters.png").unlink()
    (out / "plain_filters.png").symlink_to(os.path.join("..", "notes.txt"))
    with pytest.raises(_output.UserError, match="plain_filters.png"):
        _output.OutputFolder(out, "compare", NAMES)
    _run(out, {"plain_filters.png": "png"}, overwrite=True)
    assert notes.read_text() == "my notes"
    assert not (out / "plain_filters.png").is_symlink()
    assert (out / "plain_filters.png").read_text() == "png"


def test_out_that_is_a_symbolic_link_is_refused(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to("real")
    with pytest.raises(_output.UserError, match="symbolic link"):
        _output.OutputFolder(tmp_path / "link", "compare", NAMES)


def test_a_failed_run_leaves_the_earlier_files_in_place(tmp_path):
    out = tmp_path / "report"
    _run(out, {"report.md": "one", "plain_filters.png": "png"})
    with pytest.raises(RuntimeError, match="mid-way"):
        with _output.OutputFolder(out, "compare", NAMES) as folder:
            with open(folder.path("report.md"), "w") as file:
                file.write("half")
            raise RuntimeError("failed mid-way")
    assert (out / "report.md").read_text() == "one"
    assert (out / "plain_filters.png").read_text() == "png"
    assert sorted(os.listdir(tmp_path)) == ["report"]


def test_a_tampered_manifest_cannot_name_a_file_outside(tmp_path):
    out = tmp_path / "report"
    out.mkdir()
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes")
    (out / ".sparsekeras-compare.json").write_text(
        json.dumps({"command": "compare", "files": ["../notes.txt"]})
    )
    with pytest.raises(_output.UserError, match="sparsekeras-compare"):
        _output.OutputFolder(out, "compare", NAMES)
    _run(out, {"report.md": "ours"}, overwrite=True)
    assert notes.read_text() == "my notes"


def test_another_commands_files_are_not_its_own(tmp_path):
    _run(tmp_path, {"report.md": "compare's"})
    with pytest.raises(_output.UserError, match="report.md"):
        _output.OutputFolder(tmp_path, "makhzani-table1", NAMES)
    _run(tmp_path, {"result.json": "{}"}, names=("result.json",), command="t1")
    assert (tmp_path / "report.md").read_text() == "compare's"


def test_out_under_a_file_is_refused(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(_output.UserError, match="is a file"):
        _output.OutputFolder(tmp_path / "file" / "report", "compare", NAMES)


def test_json_writes_non_finite_numbers_as_null(tmp_path):
    path = tmp_path / "report.json"
    content = {"a": float("nan"), "b": [1.0, float("inf")], "c": "x"}
    written = _output.write_json(path, content)
    assert json.loads(path.read_text()) == written
    assert written == {"a": None, "b": [1.0, None], "c": "x"}


def test_json_is_written_whole_or_not_at_all(tmp_path):
    path = tmp_path / "report.json"
    path.write_text('{"earlier": 1}')
    with pytest.raises(TypeError):
        _output.write_json(path, {"fine": 1.0, "broken": object()})
    assert json.loads(path.read_text()) == {"earlier": 1}
    assert os.listdir(tmp_path) == ["report.json"]


def test_json_gets_the_mode_of_any_new_file(tmp_path):
    _output.write_json(tmp_path / "report.json", {})
    (tmp_path / "other").write_text("")
    mode = (tmp_path / "report.json").stat().st_mode
    assert mode == (tmp_path / "other").stat().st_mode
