"""The one place that imports hypothesis, with the error that says why."""


def import_hypothesis():
    """Returns the `hypothesis` module, or raises an `ImportError` saying
    which extra installs it."""
    try:
        import hypothesis
    except ImportError as error:
        raise ImportError(
            "sparsekeras.testing's strategies and `check_*` functions need "
            'hypothesis: pip install "sparsekeras[testing]"'
        ) from error
    return hypothesis
