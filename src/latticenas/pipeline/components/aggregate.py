"""Step 3: the final model (an ensemble of trials, or the best one, beside a baseline), the
leaderboard, the search-progress plot and the best network's diagram."""

from kfp import dsl
from kfp.dsl import HTML, Artifact, Dataset, Input, Markdown, Metrics, Output

from latticenas.images import image_ref


@dsl.component(base_image=image_ref("component"), packages_to_install=None, install_kfp_package=False)
def aggregate(
    trials: Input[Dataset],
    best_parameters: Input[Artifact],
    best_spec: Input[Artifact],
    experiment: Input[Artifact],
    train: Input[Dataset],
    val: Input[Dataset],
    test: Input[Dataset],
    schema: Input[Artifact],
    leaderboard: Output[HTML],
    summary: Output[Markdown],
    best_metrics: Output[Metrics],
    final_metrics: Output[Metrics],
    final_model: Output[Artifact],
    progress_plot: Output[Artifact],
    diagram: Output[HTML],
    leaderboard_table: Output[Dataset],
):
    """From the search's outputs (``trials``, ``best_parameters``, ``best_spec``; the trials'
    outputs: ``experiment`` for a local search, the trials' output root for Katib) and the
    prepared data: ``final_model`` (JSON: an ensemble
    of trials with weights when it validates better than the best trial, else the best trial;
    what the retrain refits), ``final_metrics`` (validation and test metrics of the final
    model, the best trial and the HistGradientBoosting baseline on the same rows:
    ``final-val-*``, ``best-trial-val-*``, ``baseline-val-*``, ``*-test-*``,
    ``ensemble-size``), ``leaderboard`` (HTML page: summary, final model and baseline,
    progress plot, every trial, the best trial and its network), ``summary`` (Markdown),
    ``best_metrics`` (the best trial's objective and additional metrics), ``progress_plot``
    (PNG), ``diagram`` (the best network, HTML) and ``leaderboard_table`` (CSV)."""
    import tempfile

    from latticenas.pipeline import steps
    from latticenas.pipeline.outcome import SearchOutcome
    from latticenas.pipeline.outputs import copy_report, log_metrics
    from latticenas.pipeline.prepared import read_prepared

    prepared = read_prepared(record=schema.path, train=train.path, val=val.path, test=test.path)
    searched = SearchOutcome.read(trials=trials.path, best_parameters=best_parameters.path, best_spec=best_spec.path,
                                  work_dir=experiment.path)
    with tempfile.TemporaryDirectory() as report:
        done = steps.aggregate(prepared, searched, report)
        copy_report(done.report, leaderboard=leaderboard.path, summary=summary.path, progress_plot=progress_plot.path,
                    diagram=diagram.path, leaderboard_table=leaderboard_table.path)
    done.choice.write(final_model.path)
    log_metrics(best_metrics, done.best_metrics)
    log_metrics(final_metrics, done.final_metrics)
    final_model.metadata.update({"kind": done.choice.kind, "members": [m.trial for m in done.choice.members]})
