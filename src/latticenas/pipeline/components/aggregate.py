"""Step 3: the final model (an ensemble of trials, or the best one, beside a baseline), the
leaderboard, the search-progress plot and the best network's diagram."""

from kfp import dsl
from kfp.dsl import HTML, Artifact, Dataset, Input, Markdown, Metrics, Output

from latticenas.images import image_ref


@dsl.component(base_image=image_ref("component"), packages_to_install=None, install_kfp_package=False)
def aggregate(
    trials: Input[Dataset],
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
    """From the search's trials (their outputs: ``experiment`` for a local search, the
    trials' output root for Katib) and the prepared data: ``final_model`` (JSON: an ensemble
    of trials with weights when it validates better than the best trial, else the best trial;
    what the retrain refits), ``final_metrics`` (validation and test metrics of the final
    model, the best trial and the HistGradientBoosting baseline on the same rows:
    ``final-val-*``, ``best-trial-val-*``, ``baseline-val-*``, ``*-test-*``,
    ``ensemble-size``), ``leaderboard`` (HTML page: summary, final model and baseline,
    progress plot, every trial, the best trial and its network), ``summary`` (Markdown),
    ``best_metrics`` (the best trial's objective and additional metrics), ``progress_plot``
    (PNG), ``diagram`` (the best network, HTML) and ``leaderboard_table`` (CSV)."""
    from latticenas.pipeline.steps import aggregate_search

    done = aggregate_search(
        trials=trials.path, best_spec=best_spec.path, experiment=experiment.path, record=schema.path,
        train=train.path, val=val.path, test=test.path, leaderboard=leaderboard.path, summary=summary.path,
        progress_plot=progress_plot.path, diagram=diagram.path, leaderboard_table=leaderboard_table.path,
        final_model=final_model.path,
    )
    for name, value in done.best_metrics.items():
        best_metrics.log_metric(name, value)
    for name, value in done.final_metrics.items():
        final_metrics.log_metric(name, value)
    final_model.metadata.update({"kind": done.choice.kind, "members": [m.trial for m in done.choice.members]})
