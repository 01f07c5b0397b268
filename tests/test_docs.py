"""The documentation site builds strictly, and its pages match the code."""

import ast
import doctest
import importlib.util
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
SUBPACKAGES = (
    "layers",
    "models",
    "regularizers",
    "datasets",
    "testing",
    "callbacks",
)
MODULES = (
    "metrics",
    "feature_recovery",
    "studies.instruments",
    "studies.pictures",
)


@pytest.mark.slow
# mkdocs reads the sources and the docs folder, not Keras.
@pytest.mark.backend_independent
def test_site_builds_with_no_warning(tmp_path):
    pytest.importorskip("mkdocs")
    pytest.importorskip("material")
    pytest.importorskip("mkdocstrings_handlers.python")
    site = tmp_path / "site"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "--config-file",
            str(ROOT / "mkdocs.yml"),
            "--site-dir",
            str(site),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "KSparse" in (site / "api" / "index.html").read_text()


# The page's examples are documentation; sparsekeras.testing's checks run on
# every backend in tests/testing/test_checks.py.
@pytest.mark.backend_independent
def test_property_testing_page_runs():
    pytest.importorskip("hypothesis")
    results = doctest.testfile(
        str(DOCS / "testing.md"),
        module_relative=False,
        optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS,
    )
    assert results.failed == 0, f"{results.failed} example(s) failed"


def _names_in_all(path):
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and node.targets[0].id == "__all__":
            return ast.literal_eval(node.value)
    raise AssertionError(f"{path} has no __all__")


def _public_definitions(path):
    return [
        node.name
        for node in ast.parse(path.read_text()).body
        if isinstance(node, (ast.FunctionDef, ast.ClassDef))
        and not node.name.startswith("_")
    ]


def test_api_reference_documents_every_public_name():
    package = ROOT / "sparsekeras"
    names = [
        f"{subpackage}.{name}"
        for subpackage in SUBPACKAGES
        for name in _names_in_all(package / subpackage / "__init__.py")
    ]
    names += [
        f"{module}.{name}"
        for module in MODULES
        for name in _public_definitions(
            package / (module.replace(".", "/") + ".py")
        )
    ]
    api = (DOCS / "api.md").read_text()
    missing = [name for name in names if f"::: sparsekeras.{name}\n" not in api]
    assert not missing, f"docs/api.md does not document {missing}"


@pytest.mark.parametrize("preset", ["original", "paper"])
def test_five_cases_page_shows_the_numbers_of_its_report(preset):
    report = (DOCS / "five-cases" / preset / "report.md").read_text()
    page = (DOCS / "five-cases.md").read_text().splitlines()
    # The measurement and verdict rows are those that begin with a case.
    numbers = report.split("## Measurements", 1)[1].split("## Pictures")[0]
    rows = [line for line in numbers.splitlines() if line.startswith("| (")]
    assert len(rows) == 9
    missing = [row for row in rows if row not in page]
    assert not missing, (
        f"docs/five-cases.md differs from docs/five-cases/{preset}/report.md "
        f"in {missing}: copy the tables of the new report into the page"
    )


def _griffe_extension():
    pytest.importorskip("griffe")
    path = DOCS / "griffe_keras_examples.py"
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_keras_example_section_is_indented_under_examples():
    extension = _griffe_extension()
    keras_style = (
        "Summary.\n\nExample:\n\n>>> 1 + 1\n2\n\nWhy it is 2.\n\n"
        "Reference:\n    - A paper."
    )
    assert extension.indent_examples(keras_style) == (
        "Summary.\n\nExamples:\n    >>> 1 + 1\n    2\n\n    Why it is 2.\n\n"
        "Reference:\n    - A paper."
    )


def test_google_example_section_is_left_as_it_is():
    extension = _griffe_extension()
    google_style = "Summary.\n\nExamples:\n    >>> 1 + 1\n    2"
    assert extension.indent_examples(google_style) == google_style
