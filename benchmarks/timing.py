"""Side-by-side timing on a shared, noisy machine, and what the machine was.

Each comparison runs its contenders in one process, interleaved: after a
warm-up, every repetition times a block of calls of each contender in turn
(the order rotating from one repetition to the next), so that a burst of
load from other processes hits all of them alike. A ratio is taken within
each repetition, and the median over repetitions is reported.
"""

import os
import platform
import statistics
import sys
import time
from importlib import metadata

import keras


def interleaved(contenders, *, repeats, calls, warmup):
    """Times zero-argument callables, interleaved.

    Args:
        contenders: dict from name to a callable that runs one step and
            returns only when the step has finished (e.g. returns a loss
            as a Python float).
        repeats: repetitions; each times `calls` calls of every contender.
        calls: calls per contender in one repetition.
        warmup: untimed calls of every contender first (tracing,
            compilation, caches).

    Returns:
        A dict from name to the list of seconds per call, one per
        repetition.
    """
    names = list(contenders)
    for name in names:
        for _ in range(warmup):
            contenders[name]()
    seconds = {name: [] for name in names}
    for repeat in range(repeats):
        shift = repeat % len(names)
        for name in names[shift:] + names[:shift]:
            step = contenders[name]
            start = time.perf_counter()
            for _ in range(calls):
                step()
            seconds[name].append((time.perf_counter() - start) / calls)
    return seconds


class StepTimer(keras.callbacks.Callback):
    """Records the wall time of each training step of `fit`, in `times`."""

    def on_train_begin(self, logs=None):
        self.times = []

    def on_train_batch_begin(self, batch, logs=None):
        self.started = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        # Logs are only fetched when read: read them so the step is done.
        float(logs["loss"])
        self.times.append(time.perf_counter() - self.started)


def summarize(seconds, baseline):
    """Medians of `interleaved`'s times and of the ratios to `baseline`.

    Returns:
        A dict from name to `{"median_s", "ratio", "ratio_min",
        "ratio_max", "best_ratio", "seconds"}`: the ratio is the median
        over repetitions of (time of the name) / (time of the baseline) in
        that repetition, with its smallest and largest value; the best
        ratio divides the name's shortest time by the baseline's, as load
        from other processes only ever adds time.
    """
    summary = {}
    for name, times in seconds.items():
        ratios = [t / b for t, b in zip(times, seconds[baseline], strict=True)]
        summary[name] = {
            "median_s": statistics.median(times),
            "ratio": statistics.median(ratios),
            "ratio_min": min(ratios),
            "ratio_max": max(ratios),
            "best_ratio": min(times) / min(seconds[baseline]),
            "seconds": times,
        }
    return summary


def load_average():
    """The 1, 5 and 15 minute load averages of the machine."""
    return list(os.getloadavg())


def machine():
    """The machine and software a benchmark ran on, for the report."""
    return {
        "cpu_model": _cpu_model(),
        "nproc": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "packages": {
            name: _version(name)
            for name in (
                "keras",
                "tensorflow",
                "jax",
                "torch",
                "numpy",
                "scikit-learn",
            )
        },
        "keras_backend": keras.backend.backend(),
        "load_average_at_start": load_average(),
    }


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(name):
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None
