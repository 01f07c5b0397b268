import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import pytest  # noqa: E402

# CI runs the suite once per backend; a test of code that does the same on
# every backend runs on the default one only.
DEFAULT_BACKEND = "tensorflow"


def pytest_collection_modifyitems(config, items):
    if keras.backend.backend() == DEFAULT_BACKEND:
        return
    skip = pytest.mark.skip(
        reason=(
            "backend_independent: runs on the default backend "
            f"({DEFAULT_BACKEND}) only, as it does the same on every one"
        )
    )
    for item in items:
        if item.get_closest_marker("backend_independent"):
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    """Each test starts from the float32 policy and a fresh name scope."""
    keras.config.set_dtype_policy("float32")
    keras.utils.clear_session(free_memory=False)
    yield
    keras.config.set_dtype_policy("float32")
