"""Dead latents and feature recovery of TopK SAEs on planted features.

    python -m benchmarks.sae_toy [--epochs 5] [--samples 200000] [--cases all]

The toy (`planted_features`): 512 features, random unit vectors in 64
dimensions; feature i is drawn with a Zipf-like weight 1 / (i + 1), and
each sample is the sum of 5 distinct features (drawn without replacement,
by the Gumbel top-k trick) times magnitudes uniform in [0.5, 1.5], with no
noise. Each case trains `SparseAutoencoder(units=512, k=5, ...)` with
`Adam(1e-3)` at batch 1024 and reports, on 20,000 held-out samples:

- `dead`: the fraction of latents that have not fired for `dead_after`
  (100,000) training samples, from the model's own state;
- `recovery`: the mean over planted features of the largest cosine
  between the feature and a dictionary column;
- `fvu`: the fraction of variance unexplained at inference;
- `step_ms`: the median training step, wall clock.

Cases: plain TopK (every mitigation off), each mitigation alone, all
(the defaults) and all with BatchTopK. Prints a Markdown table and writes
JSON with `--out`.
"""

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from sparsekeras.models import SparseAutoencoder  # noqa: E402

INPUT_DIM, FEATURES, ACTIVE, UNITS, K = 64, 512, 5, 512, 5
ZIPF_EXPONENT = 1.0
PLAIN = dict(tied_init=False, unit_norm_decoder=False, pre_bias=None, aux_k=0)
CASES = {
    "plain TopK": PLAIN,
    "+ encoder = decoder transpose": dict(PLAIN, tied_init=True),
    "+ unit-norm decoder": dict(PLAIN, unit_norm_decoder=True),
    "+ pre-encoder bias (geometric median)": dict(
        PLAIN, pre_bias="geometric_median"
    ),
    "+ AuxK": dict(PLAIN, aux_k=None),
    "all (defaults)": {},
    "all with BatchTopK": dict(activation="batch_topk"),
}


def planted_features(samples, seed=0, features=None, exponent=ZIPF_EXPONENT):
    """Samples of the toy and its features, a `(FEATURES, INPUT_DIM)` array.

    Pass `features` to draw more samples of the same toy.
    """
    rng = np.random.default_rng(seed)
    if features is None:
        features = rng.normal(size=(FEATURES, INPUT_DIM))
        features /= np.linalg.norm(features, axis=1, keepdims=True)
    log_weights = -exponent * np.log(np.arange(1, FEATURES + 1))
    x = np.empty((samples, INPUT_DIM), "float32")
    for start in range(0, samples, 10_000):
        n = min(10_000, samples - start)
        gumbel = rng.gumbel(size=(n, FEATURES))
        chosen = np.argpartition(-(log_weights + gumbel), ACTIVE, axis=1)
        chosen = chosen[:, :ACTIVE]
        magnitudes = rng.uniform(0.5, 1.5, size=(n, ACTIVE))
        x[start : start + n] = np.einsum(
            "na,nad->nd", magnitudes, features[chosen]
        )
    return x, features


def recovery(dictionary, features):
    """Mean over features of the largest cosine with a dictionary column."""
    columns = dictionary / np.linalg.norm(dictionary, axis=0, keepdims=True)
    return float(np.mean(np.max(features @ columns, axis=1)))


class StepTimer(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.times = []

    def on_train_batch_begin(self, batch, logs=None):
        self.started = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.times.append(time.perf_counter() - self.started)


def run_case(options, x, held_out, features, epochs, batch_size, seed=1):
    keras.utils.set_random_seed(seed)
    sae = SparseAutoencoder(UNITS, K, **options)
    if sae.pre_bias is not None:
        sae.adapt(x[:50_000])
    sae.compile(optimizer=keras.optimizers.Adam(1e-3))
    timer = StepTimer()
    started = time.perf_counter()
    sae.fit(
        x, batch_size=batch_size, epochs=epochs, verbose=0, callbacks=[timer]
    )
    seconds = time.perf_counter() - started
    reconstruction = keras.ops.convert_to_numpy(sae.predict(held_out, 4096, 0))
    error = np.sum((held_out - reconstruction) ** 2)
    variance = np.sum((held_out - held_out.mean(axis=0)) ** 2)
    since = keras.ops.convert_to_numpy(sae.samples_since_fired)
    return {
        "dead": float(np.mean(since >= sae.dead_after)),
        "recovery": recovery(
            keras.ops.convert_to_numpy(sae.dictionary), features
        ),
        "fvu": float(error / variance),
        "step_ms": 1e3 * float(np.median(timer.times[1:])),
        "fit_s": seconds,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sae_toy")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--samples", type=int, default=200_000)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument(
        "--cases", default="all", help="comma-separated case names, or all"
    )
    parser.add_argument("--out", help="a JSON file for the results")
    args = parser.parse_args(argv)
    names = list(CASES) if args.cases == "all" else args.cases.split(",")
    x, features = planted_features(args.samples, seed=0)
    held_out, _ = planted_features(20_000, seed=1, features=features)
    results = {}
    print(f"backend: {keras.backend.backend()}")
    print("| case | dead | recovery | FVU | step (ms) | fit (s) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name in names:
        row = run_case(
            CASES[name], x, held_out, features, args.epochs, args.batch_size
        )
        results[name] = row
        print(
            f"| {name} | {row['dead']:.1%} | {row['recovery']:.3f} "
            f"| {row['fvu']:.3f} | {row['step_ms']:.1f} "
            f"| {row['fit_s']:.0f} |",
            flush=True,
        )
    if args.out:
        with open(args.out, "w") as f:
            json.dump(
                {"backend": keras.backend.backend(), "results": results},
                f,
                indent=1,
            )


if __name__ == "__main__":
    main()
