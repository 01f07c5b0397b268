"""The warm-up and decay recipe of docs/sparse-autoencoders.md runs as
written, and its schedule is saved with the model and resumed."""

import pathlib

import keras
import numpy as np
from keras import ops

PAGE = pathlib.Path(__file__).parents[2] / "docs" / "sparse-autoencoders.md"


def _recipe():
    """The page's Python block that builds the CosineDecay schedule."""
    section = PAGE.read_text().split("## Training at scale", 1)[1]
    blocks = section.split("```python\n")[1:]
    (block,) = [b.split("```", 1)[0] for b in blocks if "CosineDecay" in b]
    return block


def test_documented_schedule_warms_up_decays_and_survives_saving(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    keras.utils.set_random_seed(0)
    scope = {}
    exec(_recipe(), scope)
    sae, schedule = scope["sae"], scope["schedule"]
    steps, warmup = scope["steps"], scope["warmup"]

    rates = [float(ops.convert_to_numpy(schedule(s))) for s in range(steps + 1)]
    assert rates[0] == 0.0
    np.testing.assert_allclose(rates[warmup // 2], 1.5e-4, rtol=1e-5)
    np.testing.assert_allclose(rates[warmup], 3e-4, rtol=1e-5)
    np.testing.assert_allclose(rates[steps], 3e-5, rtol=1e-5)
    assert np.all(np.diff(rates[: warmup + 1]) > 0)
    assert np.all(np.diff(rates[warmup:]) < 0)

    assert int(ops.convert_to_numpy(sae.optimizer.iterations)) == steps
    loaded = keras.models.load_model("sae.keras", safe_mode=True)
    config = loaded.optimizer.get_config()["learning_rate"]
    assert config["class_name"] == "CosineDecay"
    assert config["config"]["warmup_steps"] == warmup
    assert int(ops.convert_to_numpy(loaded.optimizer.iterations)) == steps
    np.testing.assert_allclose(
        float(ops.convert_to_numpy(loaded.optimizer.learning_rate)), 3e-5, 1e-5
    )
    x = scope["x"]
    np.testing.assert_allclose(
        ops.convert_to_numpy(loaded.predict(x[:256], verbose=0)),
        ops.convert_to_numpy(sae.predict(x[:256], verbose=0)),
        rtol=1e-5,
        atol=1e-5,
    )
    # Resumed training goes on at the end of the schedule, and learns.
    history = loaded.fit(x, batch_size=256, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][-1])
