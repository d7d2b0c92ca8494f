"""Step 4: retrain the final model (the best network, or every member of the ensemble) on
train + validation and test it once."""

from kfp import dsl
from kfp.dsl import HTML, Artifact, ClassificationMetrics, Dataset, Input, Metrics, Model, Output

from latticenas.images import image_ref


@dsl.component(base_image=image_ref("component"), packages_to_install=None, install_kfp_package=False)
def retrain_best(
    train: Input[Dataset],
    val: Input[Dataset],
    test: Input[Dataset],
    schema: Input[Artifact],
    final_model: Input[Artifact],
    seed: int,
    model: Output[Model],
    test_metrics: Output[Metrics],
    classification_metrics: Output[ClassificationMetrics],
    feature_importance: Output[HTML],
):
    """Refit the aggregate step's ``final_model``: the best network with its trial's
    parameters, or each network of each ensemble member with its own trial's parameters,
    fused with the final weights into one model; ``model`` is a directory (model.keras,
    saved_model/, spec.json, preprocessing.json, metrics.json, diagram.svg, for an ensemble
    ensemble.json, for classification confusion_matrix.json, roc.json), ``test_metrics`` the
    test-set metrics, ``classification_metrics`` the confusion matrix and binary ROC curve
    (empty for regression), ``feature_importance`` the refit model's permutation importance on
    the test rows (HTML page; also ``importance.*`` in ``model``)."""
    from latticenas.pipeline import steps
    from latticenas.pipeline.choice import FinalChoice
    from latticenas.pipeline.outputs import log_retrain_metrics, write_text
    from latticenas.pipeline.prepared import read_prepared

    prepared = read_prepared(record=schema.path, train=train.path, val=val.path, test=test.path)
    retrained = steps.retrain_best(prepared, FinalChoice.read(final_model.path), model.path, seed=seed)
    write_text(feature_importance.path, retrained.importance_page())
    log_retrain_metrics(retrained, test_metrics, classification_metrics)
    model.metadata.update({"framework": "keras", "task": retrained.result.task.value,
                           "epochs_run": retrained.result.epochs_run, "kind": retrained.choice.kind,
                           "members": [m.trial for m in retrained.choice.members]})
