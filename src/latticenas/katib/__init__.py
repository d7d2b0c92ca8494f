"""Katib on Kubeflow: Experiment manifests generated from a search space, and their validation.

* :mod:`latticenas.katib.generate` builds ``kubeflow.org/v1beta1`` Experiments (one per
  suggestion algorithm) and the kustomize layout under ``manifests/``.
* :mod:`latticenas.katib.validate` checks an Experiment the way Katib's admission webhook and
  suggestion services would, round-trips it through the Katib SDK's model classes and checks
  the trial Job against the Kubernetes schema.
* :mod:`latticenas.katib.cli` adds ``latticenas manifests generate|validate``.

Importing this package is cheap: the Katib SDK and the Kubernetes schemas load on first use.
"""
