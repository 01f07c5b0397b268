"""The two wings: the library never imports the studies.

Walks every module of the library wing (everything under `sparsekeras/`
outside `studies/`) and reads its imports, at module level and inside
functions alike.
"""

import ast
import pathlib

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "sparsekeras"


def _library_modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        if "studies" not in path.relative_to(PACKAGE).parts:
            yield path


def _imported_names(path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module
            yield from (f"{node.module}.{a.name}" for a in node.names)


def test_library_wing_imports_nothing_from_the_studies():
    offenders = {
        str(path.relative_to(PACKAGE)): name
        for path in _library_modules()
        for name in _imported_names(path)
        if name.startswith("sparsekeras.studies")
    }
    assert not offenders, f"library modules import the studies: {offenders}"


def test_the_walk_sees_the_library_modules():
    names = {p.relative_to(PACKAGE).as_posix() for p in _library_modules()}
    assert {"layers/ksparse.py", "metrics.py", "__init__.py"} <= names
    assert not any(name.startswith("studies/") for name in names)


def test_importing_sparsekeras_loads_no_study_module():
    import subprocess
    import sys

    code = (
        "import sys, sparsekeras; "
        "print([m for m in sys.modules if m.startswith('sparsekeras.studies')])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip().splitlines()[-1] == "[]"
