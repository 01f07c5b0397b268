"""The `sparsekeras` command line.

`sparsekeras compare` trains the five cases of the MNIST comparison and
writes the report folder: every case's pictures, `report.md` and
`report.json`.
"""

import argparse
import sys

from sparsekeras.comparison import run
from sparsekeras.comparison.cases import CASES

_LETTERS = dict(zip("abcde", CASES, strict=True))


def _case_list(text):
    cases = []
    for name in text.split(","):
        name = name.strip()
        key = _LETTERS.get(name, name)
        if key not in CASES:
            allowed = ", ".join(
                f"{letter}={key}" for letter, key in _LETTERS.items()
            )
            raise argparse.ArgumentTypeError(
                f"unknown case {name!r}; expected letters or names among "
                f"{allowed}"
            )
        cases.append(key)
    return cases


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a positive integer, got {text!r}"
        ) from None
    if value < 1:
        raise argparse.ArgumentTypeError(
            f"expected a positive integer, got {text}"
        )
    return value


def build_parser():
    """The argument parser of the `sparsekeras` command."""
    parser = argparse.ArgumentParser(
        prog="sparsekeras",
        description="Sparse coding for Keras 3: tools around the library.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    compare = commands.add_parser(
        "compare",
        help="train and measure the five sparse-coding cases on MNIST",
        description=(
            "Trains (a) a plain autoencoder, (b) one with weight decay, (c) "
            "Ng's KL sparse autoencoder, (d) neural sparse coding and (e) a "
            "k-sparse autoencoder on MNIST, measures each on the test "
            "images, and writes pictures, report.md and report.json."
        ),
    )
    compare.add_argument(
        "--cases",
        type=_case_list,
        default=list(CASES),
        help="comma-separated letters or names (default: all five)",
    )
    compare.add_argument("--epochs", type=_positive_int, default=run.EPOCHS)
    compare.add_argument(
        "--batch-size", type=_positive_int, default=run.BATCH_SIZE
    )
    compare.add_argument("--units", type=_positive_int, default=run.UNITS)
    compare.add_argument("--k", type=_positive_int, default=run.K)
    compare.add_argument("--seed", type=int, default=0)
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
    _add_makhzani_table1(commands)
    return parser


def _add_makhzani_table1(commands):
    from sparsekeras.reproductions import makhzani_table1 as table1

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


def _run_makhzani_table1(args):
    from sparsekeras.reproductions import makhzani_table1 as table1

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
    if args.command == "makhzani-table1":
        return _run_makhzani_table1(args)
    content = run.run_comparison(
        args.out,
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
    if not args.quiet:
        for verdict in content["verdicts"]:
            print(f"{verdict['verdict']:>15}: {verdict['observation']}")
        print(f"Report written to {args.out}/report.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
