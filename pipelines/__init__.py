"""Kubeflow pipeline definitions; ``latticenas_pipeline.yaml`` is the compiled, committed one."""
