"""The `Example:` of every docstring runs and prints what it shows."""

import doctest
import importlib
import pkgutil

import pytest

import sparsekeras

MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(
        sparsekeras.__path__, prefix="sparsekeras."
    )
)


# The checks' examples run property tests that tests/testing/test_checks.py
# runs on every backend; here they are documentation, checked once.
DOCUMENTATION_ONLY = {"sparsekeras.testing.checks"}


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(
            name,
            marks=pytest.mark.backend_independent
            if name in DOCUMENTATION_ONLY
            else (),
        )
        for name in MODULES
    ],
)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    results = doctest.testmod(
        module, optionflags=doctest.NORMALIZE_WHITESPACE, verbose=False
    )
    assert results.failed == 0, f"{results.failed} example(s) failed in {name}"


def test_every_public_component_shows_an_example():
    for name in sparsekeras.__all__:
        component = getattr(sparsekeras, name)
        if isinstance(component, type):
            assert ">>>" in component.__doc__, name
