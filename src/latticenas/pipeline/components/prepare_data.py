"""Step 1: load, check and split the table once; profile it."""

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Markdown, Output

from latticenas.images import image_ref


@dsl.component(base_image=image_ref("component"), packages_to_install=None, install_kfp_package=False)
def prepare_data(
    data_uri: str,
    target: str,
    task: str,
    drop_columns: str,
    allow_leakage: str,
    val_fraction: float,
    test_fraction: float,
    accelerator: str,
    train: Output[Dataset],
    val: Output[Dataset],
    test: Output[Dataset],
    schema: Output[Artifact],
    profile: Output[Markdown],
) -> str:
    """Read ``data_uri`` (CSV/Parquet path, gs:// URI or example:ames), infer the schema, stop
    on target leakage and split by content hash into train/val/test CSV parts; ``schema`` is
    the JSON record (schema, source, fractions, fingerprint), ``profile`` a Markdown data
    profile. ``accelerator`` is checked here (cpu, gpu or tpu) so a typo fails the run at once.
    Returns the task (regression, binary or multiclass)."""
    from latticenas.pipeline import steps
    from latticenas.pipeline.prepared import write_prepared

    prepared = steps.prepare_data(data_uri, target, task=task, drop_columns=drop_columns, allow_leakage=allow_leakage,
                                  val_fraction=val_fraction, test_fraction=test_fraction, accelerator=accelerator)
    write_prepared(prepared, train=train.path, val=val.path, test=test.path, record=schema.path, profile=profile.path)
    for artifact, part in ((train, "train"), (val, "val"), (test, "test")):
        artifact.metadata.update({"format": "csv", "rows": len(prepared.part(part))})
    return prepared.record.task
