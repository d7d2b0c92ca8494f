"""``latticenas trial ...``: the trial program as a subcommand (same flags as latticenas-trial)."""

from __future__ import annotations


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "trial", help="run one search trial (same as latticenas-trial)", add_help=False
    )
    parser.set_defaults(func=_run, accepts_extra=True)
    register_predict(subparsers)


def _run(args) -> int:
    from latticenas.trial import main

    return main(args.extra)


def register_predict(subparsers) -> None:
    parser = subparsers.add_parser("predict", help="predict a table with a trained model: a trial's best/, an experiment's final/ (ensemble or single network)")
    parser.add_argument("--model", required=True, help="directory holding model.keras and preprocessing.json")
    parser.add_argument("--data", required=True, help="CSV/Parquet path or gs:// URI with the feature columns")
    parser.add_argument("--output", default="-", help="CSV file for the predictions (default: stdout)")
    parser.set_defaults(func=_predict)


def _predict(args) -> int:
    import sys

    from latticenas.data import read_table
    from latticenas.fileio import atomic_write, check_output_file, storage_faults
    from latticenas.predict import Predictor
    from latticenas.trial import resolve_data_uri

    if args.output != "-":
        check_output_file(args.output, "--output")  # before the model and the table load
    predictions = Predictor.load(args.model).predict_frame(read_table(resolve_data_uri(args.data)))
    if args.output == "-":
        predictions.to_csv(sys.stdout, index=False)
        return 0
    with storage_faults(args.output):  # the old file stays whole if the disk is full
        atomic_write(args.output, predictions.to_csv(index=False))
    return 0
