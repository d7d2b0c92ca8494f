"""``latticenas manifests generate|validate``.

* ``generate [--space PATH ...] [--out DIR] [--check] [--registry R] [--tag T]`` writes the
  Katib Experiments and the kustomize layout from the search-space files (default:
  ``search_spaces/ames.yaml`` and ``search_spaces/ames-grid.yaml``). ``--check`` writes
  nothing and exits 1 when the files under ``--out`` differ from a fresh generation (drift);
  it compares against the default image references unless ``--registry``/``--tag`` are given.
  An Experiment whose Katib service ignores a range's distribution (cmaes and sobol on
  goptuna, hyperband) is written with ``uniform``, what the cluster samples, and a
  ``warning:`` line on stderr says so.
* ``validate [--strict] PATH ...`` checks Experiment manifests (files, ``-`` for stdin,
  directories; a directory with a ``kustomization.yaml`` is rendered with ``kubectl kustomize``
  first). It prints ``OK <file>: <name>`` per Experiment without errors, ``<file>: <name>:
  <path>: <problem>`` per error (Katib rejects it, or it breaks on a cluster) and ``<file>:
  <name>: <path>: warning: <problem>`` per warning (Katib admits it but ignores or silently
  changes it). It exits 2 when there is an error, else 0; ``--strict`` counts warnings as
  errors. A file that cannot be read is one ``error:`` line (exit 2).
"""

from __future__ import annotations

import argparse
import os
import sys

from latticenas.errors import LatticeNASError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "manifests", help="generate and validate the Katib Experiment manifests",
        description="Generate Katib Experiments from search-space files, or validate them.")
    actions = parser.add_subparsers(dest="manifests_command", required=True, metavar="ACTION")

    generate = actions.add_parser(
        "generate", help="write manifests/ from the search-space files",
        description="Write one Katib Experiment per algorithm and the kustomize overlays.")
    generate.add_argument("--space", action="append", dest="spaces", metavar="PATH",
                          help="search-space YAML (repeatable; default: search_spaces/ames.yaml "
                               "and search_spaces/ames-grid.yaml)")
    generate.add_argument("--out", default="manifests", metavar="DIR",
                          help="output directory (default: manifests)")
    generate.add_argument("--check", action="store_true",
                          help="write nothing; exit 1 if the files under --out differ")
    generate.add_argument("--registry", default=None,
                          help="image registry (default: LATTICENAS_REGISTRY or ghcr.io/latticenas)")
    generate.add_argument("--tag", default=None,
                          help="image tag (default: LATTICENAS_TAG or the package version)")
    generate.set_defaults(func=lambda args: run_generate(args))

    validate = actions.add_parser(
        "validate", help="check Experiment manifests the way Katib would",
        description="Check Katib Experiments: webhook rules, algorithm settings, the Katib "
                    "SDK models and the trial Job's Kubernetes schema.")
    validate.add_argument("--strict", action="store_true",
                          help="count warnings (what Katib admits but ignores or changes) as errors")
    validate.add_argument("paths", nargs="+", metavar="PATH",
                          help="manifest file, '-' for stdin, or a directory (kustomize "
                               "directories are rendered first)")
    validate.set_defaults(func=lambda args: run_validate(args))


def run_generate(args: argparse.Namespace) -> int:
    from latticenas.images import DEFAULT_REGISTRY, DEFAULT_TAG
    from latticenas.katib.generate import (
        DEFAULT_SPACES,
        check_manifests,
        distribution_notes,
        render_manifests,
        write_manifests,
    )
    from latticenas.space import load_space

    spaces = args.spaces or list(DEFAULT_SPACES)
    registry, tag = args.registry, args.tag
    if args.check:
        registry, tag = registry or DEFAULT_REGISTRY, tag or DEFAULT_TAG
    files = render_manifests(spaces, args.out, registry=registry, tag=tag)
    for space in spaces:
        for note in distribution_notes(load_space(space)):
            print(f"warning: {note}", file=sys.stderr)
    if args.check:
        drift = check_manifests(files, args.out)
        for line in drift:
            print(f"drift: {line}")
        if drift:
            print("the manifests are out of date; run: latticenas manifests generate",
                  file=sys.stderr)
            return 1
        print(f"OK {args.out}: {len(files)} files match {', '.join(spaces)}")
        return 0
    changed = write_manifests(files, args.out)
    for path in changed:
        print(f"wrote {path}")
    print(f"{args.out}: {len(files)} files, {len(changed)} changed")
    return 0


def run_validate(args: argparse.Namespace) -> int:
    from latticenas.katib.validate import validate_file

    failed = False
    for path in args.paths:
        try:
            results = validate_file(path, strict=args.strict)
        except (LatticeNASError, UnicodeDecodeError) as exc:  # stdin's bytes decode outside loading
            print(f"error: {_reading_error(path, exc)}", file=sys.stderr)
            failed = True
            continue
        for result in results:
            if result.ok:
                print(f"OK {result.source}: {result.name}")
            for issue in (*result.issues, *result.warnings):
                print(f"{result.source}: {result.name}: {issue}")
            failed = failed or not result.ok
    return 2 if failed else 0


def _reading_error(path: str, exc: Exception) -> str:
    """The one-line message for a manifest that cannot be read as YAML text."""
    if not isinstance(exc, UnicodeDecodeError):
        return str(exc)
    where = "<stdin>" if path == "-" else path
    inside = " (a file in this directory)" if where != "<stdin>" and os.path.isdir(where) else ""
    return (f"{where}{inside}: not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start}); "
            "pass a Katib Experiment YAML saved as UTF-8")
