"""The `sparsekeras` command line.

`sparsekeras compare` trains the five cases of the MNIST comparison and
writes the report folder: every case's pictures and `.keras` model,
`report.md` and `report.json`. Each subcommand is added by one `_add_*`
function that sets its `handler`, called with the parsed arguments and the
subcommand's parser (for `parser.error`), returning the exit status.
"""

import argparse
import os
import sys

from sparsekeras.datasets.mnist import ENVIRONMENT_VARIABLE
from sparsekeras.studies.five_cases import presets, registry

MAX_SEED = 2**32 - 1


def _case_list(text):
    try:
        return [registry.lookup(name.strip()).key for name in text.split(",")]
    except ValueError:
        allowed = ", ".join(f"{c.letter}={c.key}" for c in registry.CASES)
        raise argparse.ArgumentTypeError(
            f"unknown case in {text!r}; expected letters or names among "
            f"{allowed}"
        ) from None


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
    parser = argparse.ArgumentParser(
        prog="sparsekeras",
        description="Sparse coding for Keras 3: tools around the library.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    _add_compare(commands)
    _add_makhzani_table1(commands)
    return parser


def _add_compare(commands):
    compare = commands.add_parser(
        "compare",
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
        type=_case_list,
        default=list(registry.KEYS),
        help="comma-separated letters or names (default: all five)",
    )
    compare.add_argument(
        "--epochs",
        type=_positive_int,
        help="training epochs (default: the preset's; 500 is the original's)",
    )
    compare.add_argument("--batch-size", type=_positive_int)
    compare.add_argument(
        "--units", type=_positive_int, help="hidden units of every case"
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
            "'full' (Keras's MNIST, or the .npz named by SPARSEKERAS_MNIST), "
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
    compare.add_argument(
        "--quiet", action="store_true", help="no progress bars or lines"
    )
    compare.set_defaults(handler=_compare, parser=compare)


def _check_compare(args, parser):
    """Everything `compare` can check before it trains or writes."""
    if args.data not in ("embedded", "full") and not os.path.isfile(args.data):
        parser.error(f"argument --data: no such file: {args.data!r}")
    if args.data == "full" and os.environ.get(ENVIRONMENT_VARIABLE):
        named = os.environ[ENVIRONMENT_VARIABLE]
        if not os.path.isfile(named):
            parser.error(
                f"argument --data: {ENVIRONMENT_VARIABLE} names no file: "
                f"{named!r}"
            )
    _check_out(args.out, parser)
    chosen = presets.PRESETS[args.preset].with_overrides(
        units=args.units, k=args.k
    )
    for key in args.cases:
        settings = chosen.cases[key]
        if settings.k is not None and settings.k > settings.units:
            parser.error(
                f"argument --k: case {key} keeps k={settings.k} units of "
                f"{settings.units}; expected k <= units"
            )


def _check_out(out, parser):
    path = os.path.abspath(out)
    if os.path.exists(path) and not os.path.isdir(path):
        parser.error(f"argument --out: not a folder: {out!r}")
    parent = path
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        parser.error(f"argument --out: {parent!r} is a file, not a folder")
    if not os.access(parent, os.W_OK):
        parser.error(f"argument --out: cannot write in {parent!r}")


def _compare(args, parser):
    _check_compare(args, parser)
    from sparsekeras.studies.five_cases import run

    content = run.run_comparison(
        args.out,
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
    diverged = [c["key"] for c in content["cases"] if c["status"] != "trained"]
    if not args.quiet:
        for verdict in content["verdicts"]:
            print(f"{verdict['verdict']:>15}: {verdict['observation']}")
        print(f"Report written to {args.out}/report.md")
    if diverged:
        print(
            "sparsekeras compare: diverged: " + ", ".join(diverged),
            file=sys.stderr,
        )
        return 1
    return 0


def _add_makhzani_table1(commands):
    from sparsekeras.studies import makhzani_table1 as table1

    command = commands.add_parser(
        "makhzani-table1",
        help="reproduce Makhzani & Frey's MNIST k-sparse result (Table 1)",
        description=(
            "Trains the tied k-sparse autoencoder (1000 units, k=25) on "
            "50,000 MNIST training images, picks alpha on the other 10,000 "
            "with logistic regression, and writes its test error to "
            "OUT/result.json and the model to OUT/model.keras."
        ),
    )
    command.add_argument(
        "--data", required=True, help="full MNIST .npz (60,000 train images)"
    )
    command.add_argument("--out", default="makhzani-table1")
    command.add_argument("--epochs", type=_positive_int, default=table1.EPOCHS)
    command.add_argument(
        "--batch-size", type=_positive_int, default=table1.BATCH_SIZE
    )
    command.add_argument("--seed", type=int, default=0)
    command.add_argument(
        "--max-images",
        type=_positive_int,
        default=None,
        help="use only this many images of each part (quick checks only)",
    )
    command.add_argument("--quiet", action="store_true")
    command.set_defaults(handler=_run_makhzani_table1, parser=command)


def _run_makhzani_table1(args, parser):
    from sparsekeras.studies import makhzani_table1 as table1

    result = table1.run_table1(
        args.data,
        args.out,
        epochs=args.epochs,
        batch_size=args.batch_size,
        seed=args.seed,
        max_images=args.max_images,
        verbose=0 if args.quiet else 1,
    )
    if not args.quiet:
        print(
            f"Test error {100 * result['test_error']:.2f}% with alpha="
            f"{result['alpha']}; written to {args.out}/result.json"
        )
    return 0


def main(argv=None):
    """Runs the `sparsekeras` command; returns its exit status."""
    args = build_parser().parse_args(argv)
    return args.handler(args, args.parser)


if __name__ == "__main__":
    sys.exit(main())
