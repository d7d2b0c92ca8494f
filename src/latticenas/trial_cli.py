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
    from latticenas.data import read_table
    from latticenas.predict import Predictor
    from latticenas.trial import resolve_data_uri

    predictions = Predictor.load(args.model).predict_frame(read_table(resolve_data_uri(args.data)))
    predictions.to_csv(args.output if args.output != "-" else __import__("sys").stdout, index=False)
    return 0
