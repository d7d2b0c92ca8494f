"""The latticenas Kubeflow pipeline, for tools that take a pipeline file (``kfp dsl compile --py
pipelines/latticenas_pipeline.py --function latticenas_pipeline``). The definition is part of the
package (:mod:`latticenas.pipeline.definition`, its parameters
:class:`latticenas.pipeline.parameters.PipelineParameters`); ``latticenas pipeline compile``
writes ``latticenas_pipeline.yaml`` beside this file."""

from latticenas.pipeline.build import pipeline_function
from latticenas.pipeline.definition import build_pipeline

latticenas_pipeline = pipeline_function()

__all__ = ["build_pipeline", "latticenas_pipeline"]
