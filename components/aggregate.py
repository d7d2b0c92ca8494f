"""Step 3: the leaderboard, the search-progress plot and the best network's diagram."""

from kfp import dsl
from kfp.dsl import HTML, Artifact, Dataset, Input, Markdown, Metrics, Output

from latticenas.images import image_ref


@dsl.component(base_image=image_ref("component"), packages_to_install=None, install_kfp_package=False)
def aggregate(
    trials: Input[Dataset],
    best_spec: Input[Artifact],
    leaderboard: Output[HTML],
    summary: Output[Markdown],
    best_metrics: Output[Metrics],
    progress_plot: Output[Artifact],
    diagram: Output[HTML],
    leaderboard_table: Output[Dataset],
):
    """From the search's trials: ``leaderboard`` (HTML page: summary, progress plot, every
    trial, the best trial and its network), ``summary`` (Markdown), ``best_metrics`` (the best
    trial's objective and additional metrics), ``progress_plot`` (PNG), ``diagram`` (the best
    network, HTML) and ``leaderboard_table`` (CSV)."""
    from latticenas.pipeline.steps import aggregate_search

    metrics = aggregate_search(
        trials=trials.path, best_spec=best_spec.path, leaderboard=leaderboard.path, summary=summary.path,
        progress_plot=progress_plot.path, diagram=diagram.path, leaderboard_table=leaderboard_table.path,
    )
    for name, value in metrics.items():
        best_metrics.log_metric(name, value)
