"""Feature recovery on planted features, beside SAELens.

Trains sparsekeras's TopK and BatchTopK `SparseAutoencoder` on a named
`PlantedFeatures` configuration and scores them with
`sparsekeras.feature_recovery` (F1, MCC, uniqueness, explained variance,
L0, dead latents, samples/s; mean and standard deviation over seeds).
With `--peer saelens` it also trains SAELens's BatchTopK SAE, in SAELens's
own venv (`benchmarks/saelens_peer.py`), on the very same batches (piped
to it), with the same width, k, batch size, learning rate and samples,
and scores it with the same function; and it times SAELens's generator
beside ours at the same configuration. `--rss N1,N2` reports the peak
RSS of training runs of N1 and N2 samples, each in a fresh process.
`--generator-only --peer saelens` only times both generators, for each
of the comma-separated `--config` names, and prints their ratio.

Training options for ours: `--models` takes any comma-separated model
specs (a key of `MODEL_SPECS`, or any `activation` `SparseAutoencoder`
takes); `--dtype mixed_bfloat16` (the model's Keras dtype policy);
`--normalize` (`normalize_inputs=True`); `--warmup-steps N` and
`--decay cosine` (a `keras.optimizers.schedules.CosineDecay` learning
rate). `--max-seconds S` stops training at S seconds after the start;
with `--checkpoint DIR` each unfinished model is saved there and the
same command resumes it (`benchmarks/gpu_synth_16k.sh` runs the 16k
configuration in such chunks).

    python -m benchmarks.synth_sae --config cpu-4k --samples 1000000 \\
        --seeds 0,1,2 --peer saelens --out benchmarks/results/synth_sae

See docs/feature-recovery.md.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import keras
import numpy as np

from sparsekeras.callbacks import FeatureRecovery
from sparsekeras.datasets import PlantedFeatures, planted_features
from sparsekeras.datasets.synthetic import CONFIGURATIONS
from sparsekeras.feature_recovery import (
    evaluate_feature_recovery,
    score_feature_recovery,
)
from sparsekeras.models import SparseAutoencoder, matryoshka_group_sizes

COLUMNS = ("f1", "mcc", "uniqueness", "explained_variance", "l0", "dead")
PEER_SCRIPT = os.path.join(os.path.dirname(__file__), "saelens_peer.py")
EVAL_SEED = 1

# `--models` entries: each maps to `SparseAutoencoder` keyword arguments
# (a `target_l0` of "k" is set from --k); an entry not listed is an
# `activation` name.
MODEL_SPECS = {
    "topk": {"activation": "topk"},
    "batch_topk": {"activation": "batch_topk"},
    # The paper's five nested groups (matryoshka_group_sizes), set from
    # --width in `model_kwargs`.
    "matryoshka": {"activation": "batch_topk", "matryoshka_groups": "paper"},
    # From scratch: θ starts near the pre-activations' scale on the CPU
    # configurations (inputs of norm about 15), since log θ moves by about
    # the learning rate per Adam step, whatever λ: on cpu-2k after 2,000
    # steps θ0 = 1.0 gave L0 14.2 and 1.5 gave 6.8; 1.35 aims at k = 8
    # (docs/feature-recovery.md). Has no k.
    "jumprelu": {
        "activation": "jumprelu",
        "k": None,
        "initial_threshold": 1.35,
        "bandwidth": 0.1,
        "sparsity_coefficient": 0.1,
    },
    # JumpReLU at a matched L0: the quadratic penalty pulls the batch's
    # mean L0 toward --k, the L0 of the k-sparse models beside it. θ0 1.7:
    # on cpu-2k, L0 is then 7.7 after 2,000 steps (1.35 gave 11.2).
    "jumprelu_target": {
        "activation": "jumprelu",
        "k": None,
        "initial_threshold": 1.7,
        "bandwidth": 0.1,
        "sparsity_penalty": "quadratic",
        "sparsity_coefficient": 1.0,
        "target_l0": "k",
    },
}


def model_kwargs(spec, args):
    """`SparseAutoencoder` keyword arguments for a `--models` entry."""
    kwargs = {"k": args.k, **MODEL_SPECS.get(spec, {"activation": spec})}
    if kwargs.get("target_l0") == "k":
        kwargs["target_l0"] = args.k
    if kwargs.get("matryoshka_groups") == "paper":
        kwargs["matryoshka_groups"] = matryoshka_group_sizes(args.width)
    kwargs.setdefault("dtype", args.dtype)
    if args.normalize:
        kwargs.setdefault("normalize_inputs", True)
    return kwargs


def learning_rate(args, steps):
    """`--lr`, or a linear warm-up and cosine decay to `lr / 10`.

    SAELens's `lr_warm_up_steps` and `lr_decay_steps` with a Keras
    schedule: from 0 to `lr` over `--warmup-steps`, then (with `--decay
    cosine`) down to `lr / 10` over the remaining steps.
    """
    if not args.warmup_steps and args.decay == "none":
        return args.lr
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0 if args.warmup_steps else args.lr,
        decay_steps=max(1, steps - args.warmup_steps),
        alpha=0.1 if args.decay == "cosine" else 1.0,
        warmup_target=args.lr if args.warmup_steps else None,
        warmup_steps=args.warmup_steps,
    )


class StopAt(keras.callbacks.Callback):
    """Stops `fit` after the batch that ends past `deadline`."""

    def __init__(self, deadline):
        super().__init__()
        self.deadline = deadline

    def on_train_batch_end(self, batch, logs=None):
        if time.perf_counter() > self.deadline:
            self.model.stop_training = True


class Remaining(keras.utils.PyDataset):
    """The batches of `data` from `start` on (a resumed run's)."""

    def __init__(self, data, start, **kwargs):
        super().__init__(**kwargs)
        self.data, self.start = data, start

    def __len__(self):
        return len(self.data) - self.start

    def __getitem__(self, index):
        return self.data[self.start + index]


def peak_rss_mib():
    """This process's peak RSS: VmHWM, which (unlike ru_maxrss) is not
    inherited from the parent across fork and exec."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def generator_speed(generator, batch_size, batches, activations=True):
    """Our samples per second: `sample` (`x` and the dense activations,
    as SAELens's `sample_with_features` returns) or, with
    `activations=False`, `x` alone (what `PlantedFeatureBatches` streams
    to `fit`)."""
    draw = generator.sample if activations else generator._sample_x
    draw(batch_size, seed=(2, 0))
    start = time.perf_counter()
    for i in range(batches):
        draw(batch_size, seed=(2, i + 1))
    return batches * batch_size / (time.perf_counter() - start)


PEER_SPEED = """
import json, sys, time
import torch
sys.path.insert(0, sys.argv[1])
from saelens_peer import synthetic_model
spec = json.loads(sys.argv[2])
torch.set_num_threads(spec["threads"])
model = synthetic_model(spec["config"])
model.sample_with_features(spec["batch_size"])
l0, start = 0.0, time.perf_counter()
for _ in range(spec["batches"]):
    x, features = model.sample_with_features(spec["batch_size"])
    l0 += float((features > 0).float().sum(-1).mean())
seconds = time.perf_counter() - start
print(json.dumps({
    "samples_per_second": spec["batches"] * spec["batch_size"] / seconds,
    "true_l0": l0 / spec["batches"],
}))
"""


def peer_generator_speed(python, generator, batch_size, batches, threads=2):
    """SAELens's `SyntheticModel.sample_with_features`, timed in its venv
    at our generator's configuration (`saelens_peer.synthetic_model`),
    with `threads` torch threads; its L0 from the timed batches."""
    # Orthogonalisation (a one-off cost, minutes on a CPU for SAELens)
    # does not change the sampling cost, so the peer skips it.
    config = {**generator.get_config(), "orthogonalize_steps": 0}
    spec = {
        "config": config,
        "batch_size": batch_size,
        "batches": batches,
        "threads": threads,
    }
    out = subprocess.run(
        [
            python,
            "-c",
            PEER_SPEED,
            os.path.dirname(PEER_SCRIPT),
            json.dumps(spec),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def generator_only(args):
    """`--generator-only`: both generators' samples/s and the ratio, per
    configuration, in this one run; no training."""
    report = {
        "batch_size": args.batch_size,
        "load_average_start": os.getloadavg(),
        "configs": {},
    }
    for name in args.config.split(","):
        # Both skip the orthogonalisation: it changes F, not the cost.
        config = {**CONFIGURATIONS[name], "orthogonalize_steps": 0}
        generator = PlantedFeatures(**config)
        batches = args.generator_batches
        row = {
            "load_average": os.getloadavg(),
            "sparsekeras_batches": batches,
            "sparsekeras_x_and_activations": generator_speed(
                generator, args.batch_size, batches
            ),
            "sparsekeras_x_only": generator_speed(
                generator, args.batch_size, batches, activations=False
            ),
        }
        if args.peer:
            peer_batches = args.peer_generator_batches or batches
            row["saelens_batches"] = peer_batches
            for threads in args.peer_threads.split(","):
                peer = peer_generator_speed(
                    args.saelens_python,
                    generator,
                    args.batch_size,
                    peer_batches,
                    threads=int(threads),
                )
                row[f"saelens_{threads}_threads"] = peer
            best = max(
                row[f"saelens_{t}_threads"]["samples_per_second"]
                for t in args.peer_threads.split(",")
            )
            # Against SAELens's faster setting: the fair ratio.
            row["ratio"] = row["sparsekeras_x_and_activations"] / best
        row["load_average_end"] = os.getloadavg()
        report["configs"][name] = row
        print(name, json.dumps(row), flush=True)
    return report


def train_ours(generator, spec, seed, args, deadline=None):
    """Trains and scores one of our models; `None` if left unfinished.

    Stops at `deadline` (a `time.perf_counter()` value) if given; with
    `args.checkpoint` an unfinished model is saved there, with its
    progress, and the next call resumes it (a finished one's result is
    read back).
    """
    steps = args.samples // args.batch_size
    state = {"steps_done": 0, "seconds": 0.0}
    paths = None
    if args.checkpoint:
        os.makedirs(args.checkpoint, exist_ok=True)
        stem = os.path.join(args.checkpoint, f"{spec}_seed{seed}")
        paths = (f"{stem}.keras", f"{stem}.json")
        if os.path.exists(paths[1]):
            with open(paths[1]) as f:
                state = json.load(f)
    if "result" in state:
        return state["result"]
    keras.utils.set_random_seed(seed)
    workers = {"workers": args.workers, "use_multiprocessing": args.workers > 1}
    data = generator.batches(args.batch_size, steps, seed=seed, **workers)
    if state["steps_done"]:
        sae = keras.models.load_model(paths[0])
        data = Remaining(data, state["steps_done"], **workers)
    else:
        sae = SparseAutoencoder(units=args.width, **model_kwargs(spec, args))
        sae.adapt(data[0])
        sae.compile(optimizer=keras.optimizers.Adam(learning_rate(args, steps)))
    callbacks = [] if deadline is None else [StopAt(deadline)]
    curve = None
    if args.curve_every:
        # Scored on the held-out stream; its time counts in samples/s.
        curve = FeatureRecovery(
            generator,
            every=args.curve_every,
            num_samples=args.eval_samples,
            batch_size=args.batch_size,
            seed=EVAL_SEED,
        )
        callbacks.append(curve)
    start = time.perf_counter()
    # In order (Keras shuffles a PyDataset's batches by default), so that
    # a resumed run trains on the batches an uninterrupted one would.
    sae.fit(data, epochs=1, verbose=0, shuffle=False, callbacks=callbacks)
    state["seconds"] += time.perf_counter() - start
    state["steps_done"] = int(
        keras.ops.convert_to_numpy(sae.optimizer.iterations)
    )
    trained = state["steps_done"] * args.batch_size
    if state["steps_done"] < steps and paths:
        sae.save(paths[0])
        with open(paths[1], "w") as f:
            json.dump(state, f)
        return None
    speed = {
        "samples_per_second": trained / state["seconds"],
        "samples_trained": trained,
    }
    if args.no_eval:
        return speed
    scores = evaluate_feature_recovery(
        sae,
        generator,
        num_samples=args.eval_samples,
        batch_size=args.batch_size,
        seed=EVAL_SEED,
    )
    result = {**scores, **speed}
    if curve is not None:
        result["curve"] = [
            {**_floats(scores), "samples_trained": step * args.batch_size}
            for step, scores in curve.history
        ]
    if paths:
        with open(paths[1], "w") as f:
            json.dump({**state, "result": result}, f)
    return result


def _floats(scores):
    return {name: float(value) for name, value in scores.items()}


def train_peer(generator, seed, args, output):
    steps = args.samples // args.batch_size
    eval_batches = args.eval_samples // args.batch_size
    spec = {
        "d_in": generator.hidden_dim,
        "d_sae": args.width,
        "k": args.k,
        "lr": args.lr,
        "batch_size": args.batch_size,
        "steps": steps,
        "eval_batches": eval_batches,
        "seed": seed,
        "output": output,
    }
    peer = subprocess.Popen(
        [args.saelens_python, PEER_SCRIPT, "train", json.dumps(spec)],
        stdin=subprocess.PIPE,
    )
    data = generator.batches(args.batch_size, steps, seed=seed)
    for i in range(steps):
        peer.stdin.write(data[i].tobytes())
    truths = []
    for i in range(eval_batches):
        x, truth = generator.sample(args.batch_size, seed=(1, EVAL_SEED, i))
        truths.append((x, truth))
        peer.stdin.write(x.tobytes())
    peer.stdin.close()
    if peer.wait() != 0:
        raise RuntimeError("the SAELens peer failed")
    result = np.load(output)
    rows = np.cumsum([len(x) for x, _ in truths])[:-1]
    codes = np.split(result["codes"], rows)
    reconstructions = np.split(result["reconstructions"], rows)
    batches = (
        (x, truth, c, r)
        for (x, truth), c, r in zip(truths, codes, reconstructions, strict=True)
    )
    scores = score_feature_recovery(
        batches, result["decoder"], generator.feature_vectors
    )
    seconds = float(result["seconds"])
    return {**scores, "samples_per_second": steps * args.batch_size / seconds}


def summarize(runs):
    table = {}
    for name, results in runs.items():
        table[name] = {}
        for column in (*COLUMNS, "samples_per_second"):
            values = np.array([r[column] for r in results], "float64")
            spread = values.std(ddof=1) if len(values) > 1 else 0.0
            table[name][column] = (float(values.mean()), float(spread))
    return table


def markdown(table):
    head = ("SAE", "F1", "MCC", "uniqueness", "EV", "L0", "dead", "samples/s")
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for name, row in table.items():
        cells = [name]
        for column in (*COLUMNS, "samples_per_second"):
            mean, spread = row[column]
            digits = 3 if column in COLUMNS[:4] else 1
            if column == "samples_per_second":
                digits = 0
            cells.append(f"{mean:.{digits}f} ± {spread:.{digits}f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def rss_check(args, sample_counts):
    peaks = {}
    for samples in sample_counts:
        command = [
            sys.executable,
            "-m",
            "benchmarks.synth_sae",
            "--config",
            args.config,
            "--samples",
            str(samples),
            "--seeds",
            "0",
            "--models",
            "batch_topk",
            "--width",
            str(args.width),
            "--k",
            str(args.k),
            "--no-eval",
        ]
        out = subprocess.run(
            command, capture_output=True, text=True, check=True
        ).stdout
        peaks[samples] = json.loads(out.strip().splitlines()[-1])["rss_mib"]
    return peaks


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default="cpu-4k")
    parser.add_argument("--samples", type=int, default=1_000_000)
    parser.add_argument("--seeds", default="0")
    parser.add_argument(
        "--models",
        default="topk,batch_topk",
        help="comma-separated: keys of MODEL_SPECS or activation names",
    )
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--k", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument(
        "--warmup-steps", type=int, default=0, help="linear, from 0 to --lr"
    )
    parser.add_argument(
        "--decay",
        choices=("none", "cosine"),
        default="none",
        help="cosine: to lr/10 over the steps after the warm-up",
    )
    parser.add_argument(
        "--dtype",
        choices=("float32", "mixed_bfloat16"),
        default="float32",
        help="our model's Keras dtype policy",
    )
    parser.add_argument(
        "--normalize", action="store_true", help="normalize_inputs=True"
    )
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=None,
        help="stop training this long after the start",
    )
    parser.add_argument(
        "--checkpoint",
        default=None,
        help="folder where unfinished models are saved and resumed from",
    )
    parser.add_argument("--eval-samples", type=int, default=20_480)
    parser.add_argument(
        "--curve-every",
        type=int,
        default=None,
        help="score every N steps (FeatureRecovery): F1 against samples",
    )
    parser.add_argument("--generator-batches", type=int, default=10)
    parser.add_argument(
        "--peer-generator-batches",
        type=int,
        default=None,
        help="SAELens's, for --generator-only (default: --generator-batches)",
    )
    parser.add_argument(
        "--peer-threads",
        default="2",
        help="torch thread counts for SAELens's generator in "
        "--generator-only, comma-separated (the ratio takes the fastest)",
    )
    parser.add_argument(
        "--generator-only",
        action="store_true",
        help="time both generators for each of the comma-separated "
        "--config names, print the ratio, write --out.json; no training",
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="PyDataset's, for ours"
    )
    parser.add_argument("--peer", choices=("saelens",), default=None)
    parser.add_argument(
        "--saelens-python",
        default=os.environ.get("SAELENS_PYTHON", ".venv-saelens/bin/python"),
        help="the Python of the environment with sae-lens installed "
        "(default: $SAELENS_PYTHON, else .venv-saelens/bin/python)",
    )
    parser.add_argument("--rss", default=None, help="N1,N2 sample counts")
    parser.add_argument("--no-eval", action="store_true")
    parser.add_argument("--out", default=None, help="path prefix")
    args = parser.parse_args(argv)
    if args.generator_only:
        report = {"args": vars(args), **generator_only(args)}
        report["load_average_end"] = os.getloadavg()
        if args.out:
            with open(f"{args.out}.json", "w") as f:
                json.dump(report, f, indent=1, default=str)
        return
    seeds = [int(s) for s in args.seeds.split(",")]
    backend = keras.backend.backend()
    start = time.perf_counter()
    deadline = None if args.max_seconds is None else start + args.max_seconds
    models = args.models.split(",")
    for spec in models:
        # A bad spec fails here, before any training.
        SparseAutoencoder(units=args.width, **model_kwargs(spec, args))

    generator = planted_features(args.config)
    report = {
        "config": {"name": args.config, **generator.get_config()},
        "args": vars(args),
        "backend": backend,
        "load_average": os.getloadavg(),
        "generator_build_seconds": time.perf_counter() - start,
    }
    if args.no_eval:
        train_ours(generator, "batch_topk", seeds[0], args, deadline)
        print(json.dumps({"rss_mib": peak_rss_mib()}))
        return
    report["generator_samples_per_second"] = generator_speed(
        generator, args.batch_size, args.generator_batches
    )
    if args.peer:
        report["saelens_generator"] = peer_generator_speed(
            args.saelens_python,
            generator,
            args.batch_size,
            args.generator_batches,
        )
    print(json.dumps(report, default=str), flush=True)

    runs = {}
    unfinished = []
    for seed in seeds:
        for spec in models:
            name = f"sparsekeras {spec} ({backend})"
            if args.dtype != "float32":
                name = f"sparsekeras {spec} {args.dtype} ({backend})"
            result = train_ours(generator, spec, seed, args, deadline)
            if result is None:
                unfinished.append(f"{spec} seed {seed}")
                continue
            runs.setdefault(name, []).append(result)
            print(name, seed, json.dumps(result), flush=True)
        if args.peer:
            with tempfile.TemporaryDirectory() as scratch:
                output = os.path.join(scratch, f"saelens_peer_{seed}.npz")
                result = train_peer(generator, seed, args, output)
            runs.setdefault("SAELens batch_topk (torch)", []).append(result)
            print("saelens", seed, json.dumps(result), flush=True)
    if unfinished:
        # The same command resumes them from --checkpoint.
        print(json.dumps({"unfinished": unfinished}), flush=True)
        return
    report["runs"] = runs
    report["table"] = summarize(runs)
    report["peak_rss_mib"] = peak_rss_mib()
    if args.rss:
        counts = [int(n) for n in args.rss.split(",")]
        report["rss_by_samples_mib"] = rss_check(args, counts)
    report["load_average_end"] = os.getloadavg()
    text = markdown(report["table"])
    print(text)
    if args.out:
        with open(f"{args.out}.json", "w") as f:
            json.dump(report, f, indent=1, default=str)
        with open(f"{args.out}.md", "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
