"""The container images: one source of truth for their names.

The Katib manifests, the KFP components and ``docker/build.sh`` all take image references from
here, so a rename happens in one place. ``python -m latticenas.images`` prints them for the
build script (``name<TAB>reference<TAB>dockerfile`` per line).

Override the registry and tag with ``LATTICENAS_REGISTRY`` and ``LATTICENAS_TAG`` at build time;
the committed manifests use the defaults below.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from latticenas import __version__

DEFAULT_REGISTRY = "ghcr.io/latticenas"
DEFAULT_TAG = __version__


@dataclass(frozen=True)
class Image:
    name: str
    repository: str
    dockerfile: str

    def ref(self, registry: str | None = None, tag: str | None = None) -> str:
        registry = registry or os.environ.get("LATTICENAS_REGISTRY") or DEFAULT_REGISTRY
        tag = tag or os.environ.get("LATTICENAS_TAG") or DEFAULT_TAG
        return f"{registry.rstrip('/')}/{self.repository}:{tag}"


IMAGES: dict[str, Image] = {
    image.name: image
    for image in (
        Image("trial-cpu", "latticenas-trial-cpu", "trial_image/Dockerfile.cpu"),
        Image("trial-gpu", "latticenas-trial-gpu", "trial_image/Dockerfile.gpu"),
        Image("trial-tpu", "latticenas-trial-tpu", "trial_image/Dockerfile.tpu"),
        Image("component", "latticenas-component", "docker/Dockerfile.component"),
    )
}


def image_ref(name: str, registry: str | None = None, tag: str | None = None) -> str:
    """Full reference (``registry/repository:tag``) of a named image."""
    try:
        return IMAGES[name].ref(registry, tag)
    except KeyError:
        known = ", ".join(IMAGES)
        raise KeyError(f"unknown image {name!r}; known images: {known}") from None


def main() -> None:
    for image in IMAGES.values():
        print(f"{image.name}\t{image.ref()}\t{image.dockerfile}")


if __name__ == "__main__":
    main()
