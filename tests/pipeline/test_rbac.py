"""manifests/rbac: the pipeline's ServiceAccount gets exactly the Katib verbs the search step's
katib backend uses (latticenas.katib.client.KATIB_PERMISSIONS), in one namespace."""

from __future__ import annotations

import shutil

import kubernetes_validate
import pytest
import yaml
from pipeline_helpers import REPO

from latticenas.katib.client import GROUP, KATIB_PERMISSIONS
from latticenas.katib.validate import KUBERNETES_SCHEMA_VERSION, render_kustomization

RBAC = REPO / "manifests" / "rbac"
NAME = "latticenas-pipeline"


def documents():
    return {path.name: list(yaml.safe_load_all(path.read_text())) for path in sorted(RBAC.glob("*.yaml"))}


def objects():
    return [doc for name, docs in documents().items() if name != "kustomization.yaml" for doc in docs if doc]


def test_the_role_grants_exactly_what_the_client_uses():
    [role] = [o for o in objects() if o["kind"] == "Role"]
    granted = set()
    for rule in role["rules"]:
        assert rule["apiGroups"] == [GROUP]
        assert set(rule) == {"apiGroups", "resources", "verbs"}  # no resourceNames tricks, no nonResourceURLs
        granted |= {(resource, verb) for resource in rule["resources"] for verb in rule["verbs"]}
    assert granted == set(KATIB_PERMISSIONS)


def test_nothing_cluster_wide_no_secrets_no_wildcards():
    kinds = {o["kind"] for o in objects()}
    assert kinds == {"ServiceAccount", "Role", "RoleBinding"}
    text = "\n".join(p.read_text() for p in RBAC.glob("*.yaml"))
    assert "ClusterRole" not in text and "secrets" not in text and "'*'" not in text and '"*"' not in text
    for obj in objects():
        assert "namespace" not in obj["metadata"], "the kustomization sets the namespace"


def test_the_binding_ties_the_role_to_the_service_account():
    [binding] = [o for o in objects() if o["kind"] == "RoleBinding"]
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": NAME}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": NAME}]
    assert {o["metadata"]["name"] for o in objects()} == {NAME}


def test_the_kustomization_lists_every_file():
    [kustomization] = documents()["kustomization.yaml"]
    assert sorted(kustomization["resources"]) == sorted(p.name for p in RBAC.glob("*.yaml") if p.name != "kustomization.yaml")


@pytest.mark.skipif(shutil.which("kubectl") is None and not (REPO / ".venv" / "bin" / "kubectl").exists(),
                    reason="kubectl is not installed")
def test_kustomize_puts_everything_in_one_namespace_and_the_schemas_accept_it():
    [kustomization] = documents()["kustomization.yaml"]
    namespace = kustomization["namespace"]
    rendered = [doc for doc in yaml.safe_load_all(render_kustomization(RBAC)) if doc]
    assert {d["kind"] for d in rendered} == {"ServiceAccount", "Role", "RoleBinding"}
    for doc in rendered:
        assert doc["metadata"]["namespace"] == namespace
        kubernetes_validate.validate(doc, KUBERNETES_SCHEMA_VERSION, strict=True)
    [binding] = [d for d in rendered if d["kind"] == "RoleBinding"]
    assert binding["subjects"][0]["namespace"] == namespace


def test_workload_identity_is_documented_not_configured():
    account = (RBAC / "service-account.yaml").read_text()
    assert "#   iam.gke.io/gcp-service-account:" in account
    docs = (REPO / "docs" / "pipeline.md").read_text()
    assert "iam.gke.io/gcp-service-account" in docs and "roles/iam.workloadIdentityUser" in docs
