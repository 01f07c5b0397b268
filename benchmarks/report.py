"""The benchmark's markdown tables, goals and plots, from its results."""

CASE_TITLES = {
    "plain": "(a) plain autoencoder",
    "weight_decay": "(b) + `WeightDecay`",
    "weight_decay_keras_l2": "(b) with Keras's `L2(λ/2)`, the same penalty",
    "kl_sparse": "(c) + `KLSparsityRegularizer` (and weight decay)",
    "neural_sparse_coding": "(d) `NeuralSparseCoding`",
    "k_sparse": "(e) linear + `KSparse(25, k_start=100, anneal)`",
    "k_sparse_annealed": "(e) once annealed, k_t = k = 25",
}
# Short labels of the plot's bars.
CASE_LABELS = {key: title[:3] for key, title in CASE_TITLES.items()}
CASE_LABELS["weight_decay_keras_l2"] = "(b) L2"
CASE_LABELS["k_sparse_annealed"] = "(e) k=25"
STEP_GOALS = {
    "weight_decay": 1.05,
    "kl_sparse": 1.10,
    "k_sparse": 1.15,
    "k_sparse_annealed": 1.15,
}
RECOVERY_SPEEDUP_GOAL = 5.0
FINAL_ERROR_GOAL = 1.5
CONTENDER_TITLES = {
    "nsc_threshold": "NeuralSparseCoding, threshold, constant rate",
    "nsc_threshold_decay": "NeuralSparseCoding, threshold, rate decay",
    "nsc_threshold_refined": (
        "NeuralSparseCoding, threshold, rate decay, refined codes"
    ),
    "nsc_top_k": "NeuralSparseCoding, top-k, constant rate",
    "nsc_top_k_decay": "NeuralSparseCoding, top-k, rate decay",
    "nsc_top_k_refined": "NeuralSparseCoding, top-k, rate decay, refined codes",
    "sklearn": "scikit-learn MiniBatchDictionaryLearning",
}


def goals(results):
    """The issue's goals, each with its measured value and whether met."""
    rows = []
    step = results.get("step_time")
    if step:
        for key, target in STEP_GOALS.items():
            if key not in step["summary"]:
                continue
            ratio = step["summary"][key]["ratio"]
            rows.append(
                _goal(
                    f"train step, {CASE_TITLES[key]} / plain",
                    ratio,
                    "<=",
                    target,
                )
            )
    recovery = results.get("recovery", {"runs": {}})
    for name, run in recovery["runs"].items():
        contenders = run["contenders"]
        if "nsc_threshold_refined" not in contenders:
            continue
        sklearn = contenders["sklearn"]
        neural = contenders["nsc_threshold"]
        speedup = None
        if sklearn["recovered"] and neural["recovered"]:
            speedup = (
                sklearn["seconds_to_recovery"] / neural["seconds_to_recovery"]
            )
        rows.append(
            _goal(
                f"{name}: time to recovery, scikit-learn / NeuralSparseCoding",
                speedup,
                ">=",
                RECOVERY_SPEEDUP_GOAL,
            )
        )
        refined = contenders["nsc_threshold_refined"]
        for view, point in (
            ("same samples", refined["final"]),
            (
                "extra batches within scikit-learn's time",
                refined.get("same_time"),
            ),
        ):
            for error in ("max_error", "mean_error"):
                ratio = point and point[error] / sklearn["final"][error]
                rows.append(
                    _goal(
                        f"{name}: final {error.replace('_', ' ')}, decay "
                        f"with refined codes / scikit-learn ({view})",
                        ratio,
                        "<=",
                        FINAL_ERROR_GOAL,
                    )
                )
    return rows


def _goal(what, measured, relation, target):
    met = None
    if measured is not None:
        met = measured <= target if relation == "<=" else measured >= target
    return {
        "goal": what,
        "measured": measured,
        "relation": relation,
        "target": target,
        "met": met,
    }


def markdown(results):
    """The whole report as markdown."""
    machine = results["machine"]
    lines = [
        "# sparsekeras benchmarks",
        "",
        f"Command: `{results['command']}`",
        "",
        f"Machine: {machine['cpu_model']}, {machine['usable_cores']} usable "
        f"cores (nproc {machine['nproc']}), {machine['platform']}, Python "
        f"{machine['python']}; "
        + ", ".join(
            f"{name} {version}"
            for name, version in machine["packages"].items()
            if version
        )
        + f"; Keras backend {machine['keras_backend']}.",
        "",
        "Load averages (1, 5, 15 min) are given at the start and end of each "
        "section: other processes share the cores, so times are noisy; "
        "ratios come from contenders interleaved in the same process.",
        "",
    ]
    sections = (
        ("step_time", _step_section),
        ("epoch_time", _epoch_section),
        ("recovery", _recovery_section),
        ("ksparse_vs_torch", _torch_section),
    )
    for key, write in sections:
        if key in results:
            lines += write(results[key], results["settings"])
    rows = results["goals"]
    if rows:
        lines += [
            "## Goals",
            "",
            "| goal | measured | target | met |",
            "| --- | --- | --- | --- |",
        ]
        for row in rows:
            met = {True: "yes", False: "**no**", None: "n/a"}[row["met"]]
            lines.append(
                f"| {row['goal']} | {_number(row['measured'])} | "
                f"{row['relation']} {row['target']} | {met} |"
            )
        lines.append("")
    return "\n".join(lines)


def _load(section):
    before, after = section["load_average"]
    return (
        f"Load average {_triple(before)} at the start, {_triple(after)} at "
        "the end."
    )


def _triple(values):
    return "/".join(f"{value:.2f}" for value in values)


def _step_section(section, settings):
    lines = [
        "## Cost of sparsity: train step",
        "",
        f"`model.train_on_batch` on one batch of {section['batch_size']} "
        f"MNIST images, 784-{section['units']}-784, k = {section['k']}; "
        f"{settings['warmup']} warm-up steps, then "
        f"{settings.get('step_repeats', settings['repeats'])} interleaved "
        f"repetitions of {settings.get('step_calls', settings['calls'])} "
        "steps per case. (e) is timed during its annealing (k_t from 100 "
        "down) and once annealed (its step set past the schedule); (b) also "
        "with Keras's own `L2` regularizer in place of `WeightDecay`. "
        "Ratio: median over repetitions of (case / plain) within a "
        "repetition, with its range; best: shortest time over shortest "
        "time. " + _load(section),
        "",
        "| case | ms per step (median) | ratio to plain | range | best | "
        "goal |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for key, row in section["summary"].items():
        goal = STEP_GOALS.get(key)
        lines.append(
            f"| {CASE_TITLES[key]} | {1e3 * row['median_s']:.1f} | "
            f"{row['ratio']:.3f} | {row['ratio_min']:.3f}-"
            f"{row['ratio_max']:.3f} | {row['best_ratio']:.3f} | "
            f"{f'<= {goal}' if goal else ''} |"
        )
    return lines + [""]


def _epoch_section(section, settings):
    lines = [
        "## Seconds per epoch",
        "",
        f"`model.fit` for one epoch of {section['images']:,} images "
        f"({section['data']}), batch {section['batch_size']}, after a "
        "short fit that traces every batch shape; "
        f"{settings['epoch_repeats']} interleaved epochs per case. "
        + _load(section),
        "",
        "| case | s per epoch (median) | ratio to plain | range |",
        "| --- | --- | --- | --- |",
    ]
    for key, row in section["summary"].items():
        lines.append(
            f"| {CASE_TITLES[key]} | {row['median_s']:.2f} | "
            f"{row['ratio']:.3f} | {row['ratio_min']:.3f}-"
            f"{row['ratio_max']:.3f} |"
        )
    return lines + [""]


def _recovery_section(section, settings):
    lines = [
        "## Dictionary recovery against scikit-learn",
        "",
        "Same start (every atom 0.3 away), same batches, in turn. Error of "
        "an atom: distance to the learned atom of largest |cosine| (sign "
        "matched). Recovered: every atom's error below 0.1. Times are the "
        "sums of the steps' times.",
        "",
    ]
    for name, run in section["runs"].items():
        setting = run["setting"]
        lines += [
            f"### {name}",
            "",
            f"n = {setting['input_dim']}, m = {setting['units']}, k = "
            f"{setting['k']}, batches of {setting['batch_size']}, "
            f"{setting['batches']} batches for everyone; decoders "
            f"{', '.join(setting['decoders'])} (threshold "
            f"{setting['threshold']}), constant rate "
            f"{setting['learning_rate']}"
            + "".join(
                f", decay `{decay['initial_rate']} / (1 + step / "
                f"{decay['decay_steps']})`"
                + (
                    f" with refine_steps={decay['refine_steps']}"
                    if decay["refine_steps"]
                    else ""
                )
                for decay in setting["decays"]
            )
            + f"; scikit-learn alpha {setting['sklearn_alpha']}, LARS. "
            + _load(run),
            "",
            "| contender | samples to recovery | s to recovery | "
            "s per batch (median) | final max error | final mean error | "
            "atoms matched |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for key, row in run["contenders"].items():
            final = row["final"]
            lines.append(
                f"| {CONTENDER_TITLES[key]} | "
                f"{_number(row['samples_to_recovery'], 'never')} | "
                f"{_number(row['seconds_to_recovery'], 'never')} | "
                f"{row['median_step_s']:.3f} | {final['max_error']:.4f} | "
                f"{final['mean_error']:.4f} | "
                f"{final['distinct_matches']} of {setting['units']} |"
            )
        extra = [
            (key, row["same_time"])
            for key, row in run["contenders"].items()
            if "same_time" in row
        ]
        if extra:
            lines += [
                "",
                "Given further batches while their total time stayed below "
                "scikit-learn's:",
                "",
                "| contender | samples | s | max error | mean error |",
                "| --- | --- | --- | --- | --- |",
            ]
            for key, point in extra:
                lines.append(
                    f"| {CONTENDER_TITLES[key]} | {point['samples']:,} | "
                    f"{point['seconds']:.2f} | {point['max_error']:.4f} | "
                    f"{point['mean_error']:.4f} |"
                )
        lines.append("")
    return lines


def _torch_section(section, settings):
    lines = [
        "## k-sparse autoencoder: Keras against direct PyTorch",
        "",
        f"One train step each, {settings['warmup']} warm-up steps, then "
        f"{settings['repeats']} interleaved repetitions of "
        f"{settings['calls']} steps. Ratio: median of (contender / eager "
        "PyTorch) within a repetition. Each Keras backend ran in its own "
        "process, against PyTorch in that process. Peak memory: on a GPU, "
        "the device's peak in a process that ran only that contender's "
        "warm-up steps.",
        "",
    ]
    sparse_decoding = []
    for backend, run in section.items():
        # A table per backend: the load-average line between two would
        # end the first table, and leave the second without a header.
        lines += [
            "| Keras backend | shape | device | contender | ms per step "
            "(median) | ratio to eager PyTorch (range) | ratio to eager "
            "PyTorch on 1 thread (range) | peak GPU memory (MiB) |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for shape, result in run["comparisons"].items():
            one_thread = result.get("summary_vs_one_thread", {})
            peaks = result.get("peak_memory_bytes", {})
            for key, row in result["summary"].items():
                lines.append(
                    f"| {backend} | {shape} | {result['device']} | {key} | "
                    f"{1e3 * row['median_s']:.2f} | {_ratio(row)} | "
                    f"{_ratio(one_thread.get(key))} | "
                    f"{_mebibytes(peaks.get(key))} |"
                )
            versus_dense = result.get("sparse_decoding_vs_dense", {})
            sparse_decoding += [
                f"| {backend} | {shape} | {_ratio(row)} |"
                for key, row in versus_dense.items()
                if key.endswith("_sparse_decoding")
            ]
        lines.append("")
        start = run["machine"]["load_average_at_start"]
        lines.append(
            f"{backend}: load average {_triple(start)} at the start, "
            f"{_triple(run['load_average_at_end'])} at the end."
        )
        lines.append("")
    if sparse_decoding:
        lines += [
            "Sparse decoding (`KSparse(k, return_indices=True)` into "
            "`SparseDense`) against dense decoding (`KSparse(k)` into "
            "`Dense`): median over repetitions of the ratio of their "
            "steps.",
            "",
            "| Keras backend | shape | sparse / dense decoding (range) |",
            "| --- | --- | --- |",
            *sparse_decoding,
            "",
        ]
    return lines


def _mebibytes(size):
    return "n/a" if size is None else f"{size / 2**20:,.0f}"


def _ratio(row):
    if row is None:
        return ""
    return f"{row['ratio']:.3f} ({row['ratio_min']:.3f}-{row['ratio_max']:.3f})"


def _number(value, missing="n/a"):
    if value is None:
        return missing
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"


def plot_cost_of_sparsity(path, step, epoch):
    """Bar charts of the step-time and epoch-time ratios to plain."""
    from matplotlib.figure import Figure

    panels = [
        (title, s) for title, s in (("train step", step), ("epoch", epoch)) if s
    ]
    figure = Figure(figsize=(5.5 * len(panels), 4.2), layout="constrained")
    for axes, (title, section) in zip(
        figure.subplots(1, len(panels), squeeze=False)[0], panels, strict=True
    ):
        keys = list(section["summary"])
        rows = [section["summary"][key] for key in keys]
        ratios = [row["ratio"] for row in rows]
        spread = [
            [row["ratio"] - row["ratio_min"] for row in rows],
            [row["ratio_max"] - row["ratio"] for row in rows],
        ]
        positions = range(len(keys))
        axes.bar(positions, ratios, yerr=spread, capsize=4, color="tab:blue")
        for position, key in zip(positions, keys, strict=True):
            if key in STEP_GOALS and title == "train step":
                axes.hlines(
                    STEP_GOALS[key],
                    position - 0.4,
                    position + 0.4,
                    colors="tab:red",
                )
        axes.axhline(1.0, color="grey", linewidth=0.8)
        axes.set_xticks(list(positions), [CASE_LABELS[key] for key in keys])
        axes.set_ylabel("time / plain autoencoder's")
        goals = "; red: goal" if title == "train step" else ""
        axes.set_title(f"{title} (median, min-max{goals})")
    figure.savefig(path, dpi=100)


def plot_recovery(path, runs):
    """Max column error against time and samples, for every run."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(5 * (len(runs) + 1), 4.2), layout="constrained")
    axes_row = figure.subplots(1, len(runs) + 1, squeeze=False)[0]
    first_name, first_run = next(iter(runs.items()))
    _curves(axes_row[0], first_run, "seconds", f"{first_name}: against time")
    for axes, (name, run) in zip(axes_row[1:], runs.items(), strict=True):
        _curves(axes, run, "samples", f"{name}: against samples")
    figure.savefig(path, dpi=100)


def _curves(axes, run, x, title):
    for key, row in run["contenders"].items():
        points = row["curve"] + row.get("same_time_curve", [])
        axes.plot(
            [point[x] for point in points],
            [point["max_error"] for point in points],
            marker=".",
            label=CONTENDER_TITLES[key],
        )
    axes.axhline(0.1, color="grey", linestyle="--", linewidth=0.8)
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("wall seconds" if x == "seconds" else "samples")
    axes.set_ylabel("max column error")
    axes.set_title(title)
    axes.legend(fontsize="small")
