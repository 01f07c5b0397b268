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


@pytest.mark.parametrize("name", MODULES)
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
