"""Step 4: retrain the best network on train + validation and test it once."""

from kfp import dsl
from kfp.dsl import Artifact, ClassificationMetrics, Dataset, Input, Metrics, Model, Output

from latticenas.images import image_ref


@dsl.component(base_image=image_ref("component"), packages_to_install=None, install_kfp_package=False)
def retrain_best(
    train: Input[Dataset],
    val: Input[Dataset],
    test: Input[Dataset],
    schema: Input[Artifact],
    best_parameters: Input[Artifact],
    best_spec: Input[Artifact],
    seed: int,
    model: Output[Model],
    test_metrics: Output[Metrics],
    classification_metrics: Output[ClassificationMetrics],
):
    """Retrain the search's best network with its trial's parameters; ``model`` is a directory
    (model.keras, saved_model/, spec.json, preprocessing.json, metrics.json, diagram.svg and for
    classification confusion_matrix.json, roc.json), ``test_metrics`` the test-set metrics,
    ``classification_metrics`` the confusion matrix and binary ROC curve (empty for regression)."""
    from latticenas.pipeline.steps import log_retrain_metrics, retrain

    result = retrain(record=schema.path, train=train.path, val=val.path, test=test.path,
                     best_parameters=best_parameters.path, best_spec=best_spec.path, output_dir=model.path, seed=seed)
    log_retrain_metrics(result, test_metrics, classification_metrics)
    model.metadata.update({"framework": "keras", "task": result.task.value, "epochs_run": result.epochs_run})
