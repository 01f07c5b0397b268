"""Dead latents and feature recovery of TopK SAEs on planted features.

    python -m benchmarks.sae_toy [--epochs 5] [--samples 200000] [--cases all]
        [--learning-rate 1e-3]

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
JSON with `--out`. `--zipf-exponent` changes the exponent of the
frequencies (1 by default).

    python -m benchmarks.sae_toy --step-ratio [--out FILE]

times instead, interleaved in one process (`benchmarks/timing.py`), one
`train_on_batch` step of the toy's shape (64 -> 512, k = 5, a batch of
1024) for: a plain `Dense -> KSparse -> Dense` autoencoder (MSE, the
baseline), `SparseAutoencoder` with every mitigation off, and with every
mitigation on (the defaults) in three states: no latent dead, 16 dead (at
most `aux_k` = 32: AuxK decodes all of them) and 64 dead (more than
`aux_k`: AuxK takes each row's top 32 of them). Dead latents are made by
a very negative encoder bias, so they stay dead while timed.

    python -m benchmarks.sae_toy --fit-ratio [--out FILE]

times instead a step inside `fit` (`verbose=0`), as training runs: each
model's epoch of 200 batches and of 20 batches, interleaved, and their
difference over 180 batches, so that what an epoch costs once (its
iterator, callbacks) cancels. The plain autoencoder is fitted on
`(x, x)`, the `SparseAutoencoder`s on `x` alone, as each is used; the
defaults run with `dead_after` = 2**30, so that no latent dies while
timed.
"""

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks import timing  # noqa: E402
from sparsekeras.layers import KSparse  # noqa: E402
from sparsekeras.models import SparseAutoencoder  # noqa: E402

INPUT_DIM, FEATURES, ACTIVE, UNITS, K = 64, 512, 5, 512, 5
ZIPF_EXPONENT = 1.0
BASELINE = "plain KSparse autoencoder"
"""The name of the step ratios' baseline, `plain_ksparse_autoencoder`."""
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


def held_out_fvu(held_out, reconstruction):
    """Squared error over the held-out samples' variance about their mean."""
    error = np.sum((held_out - reconstruction) ** 2)
    variance = np.sum((held_out - held_out.mean(axis=0)) ** 2)
    return float(error / variance)


def run_case(
    options, x, held_out, features, epochs, batch_size, learning_rate, seed=1
):
    keras.utils.set_random_seed(seed)
    sae = SparseAutoencoder(UNITS, K, **options)
    if sae.pre_bias is not None:
        sae.adapt(x[:50_000])
    sae.compile(optimizer=keras.optimizers.Adam(learning_rate))
    timer = timing.StepTimer()
    started = time.perf_counter()
    sae.fit(
        x, batch_size=batch_size, epochs=epochs, verbose=0, callbacks=[timer]
    )
    seconds = time.perf_counter() - started
    reconstruction = keras.ops.convert_to_numpy(sae.predict(held_out, 4096, 0))
    since = keras.ops.convert_to_numpy(sae.samples_since_fired)
    return {
        "dead": float(np.mean(since >= sae.dead_after)),
        "recovery": recovery(
            keras.ops.convert_to_numpy(sae.dictionary), features
        ),
        "fvu": held_out_fvu(held_out, reconstruction),
        "step_ms": 1e3 * float(np.median(timer.times[1:])),
        "fit_s": seconds,
    }


def plain_ksparse_autoencoder():
    """`Dense(UNITS) -> KSparse(K) -> Dense(INPUT_DIM)`, MSE and Adam."""
    inputs = keras.Input((INPUT_DIM,))
    codes = KSparse(K)(keras.layers.Dense(UNITS)(inputs))
    model = keras.Model(inputs, keras.layers.Dense(INPUT_DIM)(codes))
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    return model


def sae_with_dead_latents(x, dead, **options):
    """A compiled `SparseAutoencoder` whose first `dead` latents are dead."""
    sae = SparseAutoencoder(UNITS, K, **options)
    if sae.pre_bias is not None:
        sae.adapt(x)
    else:
        sae.build((None, INPUT_DIM))
    bias = np.zeros(UNITS, "float32")
    bias[:dead] = -1e3
    sae.encoder_bias.assign(bias)
    since = np.zeros(UNITS, "int32")
    since[:dead] = sae.dead_after
    sae.samples_since_fired.assign(since)
    sae.compile(optimizer=keras.optimizers.Adam(1e-3))
    return sae


def step_ratios(batch_size, repeats, calls, warmup):
    """Interleaved step times of the SAE against the plain autoencoder."""
    x, _ = planted_features(batch_size, seed=0)
    batch = keras.ops.convert_to_tensor(x)
    plain = plain_ksparse_autoencoder()
    contenders = {BASELINE: plain}
    contenders["SparseAutoencoder, every mitigation off"] = (
        sae_with_dead_latents(x, 0, **PLAIN)
    )
    for dead in (0, 16, 64):
        name = f"SparseAutoencoder, defaults, {dead} dead"
        contenders[name] = sae_with_dead_latents(x, dead)
    steps = {
        name: _train_step(model, batch, name == BASELINE)
        for name, model in contenders.items()
    }
    before = timing.load_average()
    seconds = timing.interleaved(
        steps, repeats=repeats, calls=calls, warmup=warmup
    )
    summary = timing.summarize(seconds, BASELINE)
    return {
        "batch_size": batch_size,
        "summary": summary,
        "load_average": [before, timing.load_average()],
    }


def fit_step_ratios(batch_size, repeats, short=20, long=200):
    """Per-step times inside `fit`, the SAE against the plain autoencoder."""
    x, _ = planted_features(long * batch_size, seed=0)
    contenders = {
        BASELINE: plain_ksparse_autoencoder(),
        "SparseAutoencoder, every mitigation off": sae_with_dead_latents(
            x, 0, **PLAIN
        ),
        "SparseAutoencoder, defaults, 0 dead": sae_with_dead_latents(
            x, 0, dead_after=2**30
        ),
    }
    epochs = {}
    for name, model in contenders.items():
        targets = name == BASELINE
        for batches in (short, long):
            data = x[: batches * batch_size]
            epochs[name, batches] = _fit_epoch(model, data, targets, batch_size)
    before = timing.load_average()
    seconds = timing.interleaved(epochs, repeats=repeats, calls=1, warmup=2)
    per_step = {
        name: [
            (slow - fast) / (long - short)
            for slow, fast in zip(
                seconds[name, long], seconds[name, short], strict=True
            )
        ]
        for name in contenders
    }
    return {
        "batch_size": batch_size,
        "summary": timing.summarize(per_step, BASELINE),
        "load_average": [before, timing.load_average()],
    }


def _fit_epoch(model, data, with_targets, batch_size):
    targets = data if with_targets else None
    return lambda: model.fit(
        data, targets, batch_size=batch_size, verbose=0, shuffle=False
    )


def _train_step(model, batch, with_targets):
    if with_targets:
        return lambda: model.train_on_batch(batch, batch)
    return lambda: model.train_on_batch(batch)


def _print_ratios(result):
    print(f"load average before/after: {result['load_average']}")
    print("| model | step (ms) | ratio (median) | range | best/best |")
    print("| --- | --- | --- | --- | --- |")
    for name, row in result["summary"].items():
        print(
            f"| {name} | {1e3 * row['median_s']:.2f} | {row['ratio']:.2f} "
            f"| {row['ratio_min']:.2f}-{row['ratio_max']:.2f} "
            f"| {row['best_ratio']:.2f} |"
        )


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sae_toy")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--samples", type=int, default=200_000)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument(
        "--cases", default="all", help="comma-separated case names, or all"
    )
    parser.add_argument("--out", help="a JSON file for the results")
    parser.add_argument(
        "--step-ratio",
        action="store_true",
        help="time steps against a plain KSparse autoencoder instead",
    )
    parser.add_argument(
        "--fit-ratio",
        action="store_true",
        help="time steps inside fit against a plain KSparse autoencoder",
    )
    parser.add_argument("--zipf-exponent", type=float, default=ZIPF_EXPONENT)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--calls", type=int, default=10)
    args = parser.parse_args(argv)
    print(f"backend: {keras.backend.backend()}")
    if args.fit_ratio:
        result = fit_step_ratios(args.batch_size, args.repeats)
    elif args.step_ratio:
        result = step_ratios(args.batch_size, args.repeats, args.calls, 3)
    if args.fit_ratio or args.step_ratio:
        result["machine"] = timing.machine()
        _print_ratios(result)
        if args.out:
            with open(args.out, "w") as f:
                json.dump(result, f, indent=1)
        return
    names = list(CASES) if args.cases == "all" else args.cases.split(",")
    exponent = args.zipf_exponent
    x, features = planted_features(args.samples, seed=0, exponent=exponent)
    held_out, _ = planted_features(
        20_000, seed=1, features=features, exponent=exponent
    )
    print(f"Zipf exponent: {exponent}")
    results = {}
    print("| case | dead | recovery | FVU | step (ms) | fit (s) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name in names:
        row = run_case(
            CASES[name],
            x,
            held_out,
            features,
            args.epochs,
            args.batch_size,
            args.learning_rate,
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
                {
                    "backend": keras.backend.backend(),
                    "zipf_exponent": exponent,
                    "results": results,
                },
                f,
                indent=1,
            )


if __name__ == "__main__":
    main()
