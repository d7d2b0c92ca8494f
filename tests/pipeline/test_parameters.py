"""latticenas.pipeline.parameters: the one typed definition of the pipeline's parameters, and
everything that must agree with it (the docs' table, the notebook's parameters cell, the CLI)."""

from __future__ import annotations

import ast
import dataclasses
import inspect

import nbformat
import pytest
from pipeline_helpers import REPO

from latticenas.errors import ParameterError
from latticenas.pipeline import parameters
from latticenas.pipeline.build import pipeline_function
from latticenas.pipeline.parameters import PipelineParameters, markdown_table, names, pipeline_signature

NOTEBOOK_ONLY = {"networks_per_trial", "epochs", "work_dir"}  # the notebook's own knobs, not pipeline parameters


def test_values_are_checked_at_construction():
    assert PipelineParameters(val_fraction=0).val_fraction == 0.0
    for bad, match in (({"task": "ranking"}, "task: one of auto"), ({"max_trials": -1}, "max_trials: must be >= 0"),
                       ({"seed": "1"}, "seed: expected int, got '1'"), ({"max_trials": True}, "expected int"),
                       ({"val_fraction": 0.6, "test_fraction": 0.5}, "must stay below 1"),
                       ({"search_backend": "slurm"}, "one of katib, local, mop"), ({"accelerator": "npu"}, "one of cpu"),
                       ({"mop_partitions": -1}, "mop_partitions: must be >= 0"),
                       ({"mop_scheduler": "localhost:8786"}, "mop_scheduler: 'localhost:8786' is not a Dask scheduler "
                                                             "address; pass tcp://HOST:PORT")):
        with pytest.raises(ParameterError, match=match):
            PipelineParameters(**bad)
    assert PipelineParameters(search_backend="mop", mop_scheduler="tcp://dask:8786",
                              trial_output_root="gs://b/trials").mop_partitions == 0
    for bad, match in (({"time_budget": "1h"}, "the mop backend has no time budget"),
                       ({"mop_scheduler": "tcp://dask:8786"}, "needs trial_output_root")):
        with pytest.raises(ParameterError, match=match):
            PipelineParameters(search_backend="mop", **bad)
    with pytest.raises(ParameterError, match="no parameter 'epochs'"):
        PipelineParameters.from_mapping({"epochs": 3})


def test_the_pipeline_signatures_are_the_definition():
    fields = dataclasses.fields(PipelineParameters)
    signature = inspect.signature(pipeline_function().pipeline_func)
    assert list(signature.parameters) == ["registry_target", *(f.name for f in fields if f.name != "registry_target")]
    for f in fields:
        parameter = signature.parameters[f.name]
        assert parameter.annotation.__name__ == f.type, f.name
        if f.name not in ("registry_target", "search_space"):
            assert parameter.default == f.default, f.name
    assert signature.parameters["registry_target"].default is inspect.Parameter.empty
    assert "accelerator" not in pipeline_signature(("accelerator",)).parameters


def test_the_docs_table_is_the_definition():
    assert markdown_table() in (REPO / "docs" / "pipeline.md").read_text(), \
        "docs/pipeline.md: paste latticenas.pipeline.parameters.markdown_table() into its Parameters section"


def test_the_notebook_parameters_cell_fits_the_definition():
    notebook = nbformat.read(REPO / "notebooks" / "latticenas_kale.ipynb", as_version=4)
    [cell] = [c for c in notebook.cells if "pipeline-parameters" in c.metadata.get("tags", [])]
    values = {node.targets[0].id: ast.literal_eval(node.value) for node in ast.parse(cell.source).body}
    assert set(values) - set(names()) == NOTEBOOK_ONLY
    PipelineParameters(**{k: v for k, v in values.items() if k in names()})  # the right types and values


def test_the_cli_options_take_the_definition_defaults():
    import argparse

    from latticenas.pipeline.cli import DATA_OPTIONS, _data_options

    parser = argparse.ArgumentParser()
    _data_options(parser)
    args = parser.parse_args([])
    assert {name: getattr(args, name) for name in DATA_OPTIONS.values()} == {
        name: parameters.default(name) for name in DATA_OPTIONS.values()}
    assert parser.parse_args(["--max-trials", "7"]).max_trials == 7
