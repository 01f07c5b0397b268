"""The `sparsekeras` command line.

`sparsekeras compare` trains the five cases of the MNIST comparison and
writes the report folder: every case's pictures and `.keras` model,
`report.md` and `report.json`. `sparsekeras makhzani-table1` reproduces
the k-sparse paper's Table 1. Each subcommand is added by one `_add_*`
function that sets its `handler`, called with the parsed arguments and
returning the exit status.

Every error in what the user asked for is one line on stderr and exit
status 2, checked before any data is loaded or any model trained where it
can be; `--debug` shows the traceback instead. Output folders follow the
rule of `studies._output` (docs/semantics.md, "Output folders").

Under the console script (`sparsekeras_cli`), Keras and its backend are
imported only when a command starts to train (`start_library`), so
`--help` and argument errors answer at once, and the backend's own log
lines are silenced unless `--verbose`.
"""

import argparse
import os
import sys

from sparsekeras.studies import _output
from sparsekeras.studies.five_cases import config, presets, registry

MAX_SEED = config.MAX_SEED
# Called with `verbose` by `start_library`: the `sparsekeras_cli` launcher
# adds the deferred `__init__` of the `sparsekeras` package here.
LIBRARY_LOADERS = []
# The name `sparsekeras.datasets.mnist` reads; spelled here so that checking
# the arguments needs no import of the datasets (and so of Keras).
MNIST_VARIABLE = "SPARSEKERAS_MNIST"
TABLE1 = "makhzani-table1"
TABLE1_FILES = ("result.json", "model.keras")


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line: no usage block."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _integer(text):
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an integer, got {text!r}"
        ) from None


def _positive_int(text):
    value = _integer(text)
    if value < 1:
        raise argparse.ArgumentTypeError(
            f"expected a positive integer, got {text}"
        )
    return value


def _seed(text):
    value = _integer(text)
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(
            f"expected an integer from 0 to {MAX_SEED}, got {text}"
        )
    return value


def build_parser():
    """The argument parser of the `sparsekeras` command."""
    parser = _Parser(
        prog="sparsekeras",
        description="Sparse coding for Keras 3: tools around the library.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    common = _Parser(add_help=False)
    common.add_argument(
        "--overwrite",
        action="store_true",
        help=(
            "replace files in --out that an earlier run of this command did "
            "not write (symbolic links are replaced, never followed)"
        ),
    )
    common.add_argument(
        "--quiet", action="store_true", help="no progress bars or lines"
    )
    common.add_argument(
        "--debug",
        action="store_true",
        help="show the Python traceback of an error",
    )
    common.add_argument(
        "--verbose",
        action="store_true",
        help="keep the backend's own log lines (TensorFlow, absl, CUDA)",
    )
    _add_compare(commands, common)
    _add_makhzani_table1(commands, common)
    return parser


def _add_compare(commands, common):
    compare = commands.add_parser(
        "compare",
        parents=[common],
        help="train and measure the five sparse-coding cases on MNIST",
        description=(
            "Trains (a) a plain autoencoder, (b) one with weight decay, (c) "
            "Ng's KL sparse autoencoder, (d) neural sparse coding and (e) a "
            "k-sparse autoencoder on MNIST, measures each on the test "
            "images, and writes pictures, models, report.md and report.json."
        ),
    )
    compare.add_argument(
        "--preset",
        choices=sorted(presets.PRESETS),
        default="original",
        help=(
            "'original': the original comparison's settings (default); "
            "'paper': each case as its own paper prescribes"
        ),
    )
    compare.add_argument(
        "--cases",
        default=",".join(registry.KEYS),
        help=(
            "comma-separated letters or names, each once (default: all five)"
        ),
    )
    compare.add_argument(
        "--epochs",
        type=_positive_int,
        help="training epochs (default: the preset's; 500 is the original's)",
    )
    compare.add_argument("--batch-size", type=_positive_int)
    compare.add_argument(
        "--units",
        type=_positive_int,
        help=f"hidden units of every case (at most {config.MAX_UNITS})",
    )
    compare.add_argument(
        "--k", type=_positive_int, help="units kept per code in (d) and (e)"
    )
    compare.add_argument(
        "--seed", type=_seed, default=0, help=f"0 to {MAX_SEED} (default 0)"
    )
    compare.add_argument(
        "--data",
        default="embedded",
        help=(
            "'embedded' (the MNIST sample shipped in the package, default), "
            f"'full' (Keras's MNIST, or the .npz named by {MNIST_VARIABLE}), "
            "or a path to an .npz with x_train, y_train, x_test, y_test"
        ),
    )
    compare.add_argument(
        "--out", default="report", help="output folder (default: report)"
    )
    compare.add_argument(
        "--max-steps",
        type=_positive_int,
        default=None,
        help="at most this many training steps per epoch (quick runs)",
    )
    compare.set_defaults(handler=_compare)


def _check_data(data, allowed=("embedded", "full")):
    if data not in allowed and not os.path.isfile(data):
        raise _output.UserError(f"argument --data: no such file: {data!r}")
    if data == "full" and os.environ.get(MNIST_VARIABLE):
        named = os.environ[MNIST_VARIABLE]
        if not os.path.isfile(named):
            raise _output.UserError(
                f"argument --data: {MNIST_VARIABLE} names no file: {named!r}"
            )


def _resolve_compare(args):
    """The run's `ComparisonConfig`, or a `UserError` naming the argument."""
    _check_data(args.data)
    try:
        return config.ComparisonConfig.resolve(
            preset=args.preset,
            cases=args.cases,
            epochs=args.epochs,
            batch_size=args.batch_size,
            units=args.units,
            k=args.k,
            seed=args.seed,
            data=args.data,
            max_steps=args.max_steps,
            verbose=0 if args.quiet else 1,
        )
    except config.ConfigError as error:
        argument = error.argument.replace("_", "-")
        raise _output.UserError(f"argument --{argument}: {error}") from None


def _compare(args):
    chosen = _resolve_compare(args)
    # Refused here, before Keras is imported or any data loaded.
    _output.OutputFolder(
        args.out, "compare", chosen.files(), overwrite=args.overwrite
    )
    start_library(args.verbose)
    from sparsekeras.studies.five_cases import run

    content = run.compare(chosen, args.out, overwrite=args.overwrite)
    diverged = [c["key"] for c in content["cases"] if c["status"] != "trained"]
    if not args.quiet:
        for verdict in content["verdicts"]:
            print(f"{verdict['verdict']:>15}: {verdict['observation']}")
        print(f"Report written to {os.path.join(args.out, 'report.md')}")
    if diverged:
        print(
            "sparsekeras compare: diverged: " + ", ".join(diverged),
            file=sys.stderr,
        )
        return 1
    return 0


def _add_makhzani_table1(commands, common):
    command = commands.add_parser(
        "makhzani-table1",
        parents=[common],
        help="reproduce Makhzani & Frey's MNIST k-sparse result (Table 1)",
        description=(
            "Trains the tied k-sparse autoencoder (1000 units, k=25) on "
            "50,000 MNIST training images, picks alpha on the other 10,000 "
            "with logistic regression, and writes its test error to "
            "OUT/result.json and the model to OUT/model.keras."
        ),
    )
    command.add_argument(
        "--data",
        help=(
            "'full' (Keras's MNIST, or the .npz named by "
            f"{MNIST_VARIABLE}), or a path to full MNIST as an .npz (60,000 "
            "training images); with --quick, also 'embedded' (its default)"
        ),
    )
    command.add_argument(
        "--quick",
        action="store_true",
        help=(
            "a check that the command runs, offline, in a minute or two: a "
            "smaller train / validation split of the sample shipped in "
            "sparsekeras (or of --data) and fewer epochs, each stated in "
            "result.json's deviations"
        ),
    )
    command.add_argument(
        "--out",
        default="makhzani-table1",
        help="output folder (default: makhzani-table1)",
    )
    command.add_argument(
        "--epochs",
        type=_positive_int,
        help="training epochs (default: the run's, fewer with --quick)",
    )
    command.add_argument(
        "--batch-size", type=_positive_int, help="default: the run's"
    )
    command.add_argument(
        "--seed", type=_seed, default=0, help=f"0 to {MAX_SEED} (default 0)"
    )
    command.add_argument(
        "--max-images",
        type=_positive_int,
        default=None,
        help="use only this many images of each part (quick checks only)",
    )
    command.set_defaults(handler=_run_makhzani_table1)


def _run_makhzani_table1(args):
    data = args.data
    if data is None:
        if not args.quick:
            raise _output.UserError(
                "argument --data is required (or --quick, which runs on the "
                "sample shipped in sparsekeras)"
            )
        data = "embedded"
    _check_data(data, allowed=("embedded", "full"))
    # Refused here, before Keras is imported or any data loaded.
    _output.OutputFolder(
        args.out, TABLE1, TABLE1_FILES, overwrite=args.overwrite
    )
    start_library(args.verbose)
    from sparsekeras.studies import makhzani_table1 as table1

    result = table1.run_table1(
        data,
        args.out,
        epochs=args.epochs,
        batch_size=args.batch_size or table1.BATCH_SIZE,
        seed=args.seed,
        max_images=args.max_images,
        quick=args.quick,
        overwrite=args.overwrite,
        verbose=0 if args.quiet else 1,
    )
    if not args.quiet:
        print(
            f"Test error {100 * result['test_error']:.2f}% with alpha="
            f"{result['alpha']}; written to "
            f"{os.path.join(args.out, 'result.json')}"
        )
    return 0


def start_library(verbose=False):
    """Runs what `LIBRARY_LOADERS` holds, once, before Keras is imported.

    Called by a command when it starts to load data and train. Under the
    `sparsekeras` console script (`sparsekeras_cli`), this imports the
    library and its backend, quietly unless `verbose`; called in-process
    (tests, `python -m sparsekeras.studies.cli`), the library is already
    imported and this does nothing.
    """
    while LIBRARY_LOADERS:
        LIBRARY_LOADERS.pop(0)(verbose)


def main(argv=None):
    """Runs the `sparsekeras` command; returns its exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except _output.UserError as error:
        if args.debug:
            raise
        message = " ".join(str(error).split())
        print(f"sparsekeras {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
