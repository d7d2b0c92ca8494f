"""Fuzz the manifest validator and the CSV reader for a set time, on demand (issue 10).

    .venv/bin/python tests/fuzz/fuzz_inputs.py [--seconds 120] [--target csv|manifest|all]

Each target gets an equal share of ``--seconds``. With atheris installed (``uv pip install
atheris``) a target runs under atheris (coverage-guided libFuzzer, seeded with the committed
manifests and small tables); without it, on random and mutated inputs from hypothesis. The
rule is the one of the property tests (tests/test_fuzz_inputs.py): an input ends in a result
or a LatticeNASError; any other exception is a finding, saved to ``--findings`` (default
runs/fuzz-findings/, not tracked) as ``<target>-<sha>.bin`` with its traceback beside it. Prints a report;
exits 1 when there is a finding.

Found so far (atheris 60 s, hypothesis 40 s, plus the property tests' exploratory run):
the CSV reader, none (its duplicate-column and infinite-value refusals came from issue 10);
the manifest target, a UnicodeDecodeError out of ``validate_file`` for bytes that are not
UTF-8 (``manifests validate`` now prints one line for it; the library call still raises, from
katib/loading.py) and TypeErrors for a list or mapping where a metric or algorithm name is
expected (katib/webhook.py, space.py), since refused with one line there and kept as cases in
tests/test_fuzz_inputs.py. After the size bounds, the memory bound and the
``infinite_values`` option (hypothesis, 30 s twice, 1000-2400 inputs a target): no new finding.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TARGETS = ("csv", "manifest")


def check_csv(data: bytes, scratch: Path) -> None:
    from latticenas.data import load_dataset, read_table

    path = scratch / "input.csv"
    path.write_bytes(data)
    frame = read_table(str(path))
    if frame.shape[1] >= 2:
        load_dataset(str(path), frame.columns[-1])


def check_manifest(data: bytes, scratch: Path) -> None:
    from latticenas.katib.validate import validate_file
    from latticenas.runner.experiment import load_experiment

    path = scratch / "input.yaml"
    path.write_bytes(data)
    for step in (validate_file, load_experiment):
        try:
            step(path)
        except _user_error():
            pass


def _user_error():
    from latticenas.errors import LatticeNASError

    return LatticeNASError


def one_input(target: str, data: bytes, scratch: Path, findings: Path) -> None:
    """Run one input; record anything but a clean refusal as a finding (never raise)."""
    try:
        (check_csv if target == "csv" else check_manifest)(data, scratch)
    except _user_error():
        pass
    except Exception as exc:  # a finding: save the input and where it broke
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        key = f"{type(exc).__name__}:{Path(frame.filename).name}:{frame.lineno}"
        name = f"{target}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"
        if not (findings / f"{name}.bin").exists():
            findings.mkdir(parents=True, exist_ok=True)
            (findings / f"{name}.bin").write_bytes(data)
            (findings / f"{name}.txt").write_text(f"{key}\n{exc!r}\n\n{traceback.format_exc()}")


def seeds(target: str) -> list[bytes]:
    sys.path.insert(0, str(ROOT / "tests"))
    from factories import classification_frame, regression_frame

    if target == "csv":
        return [regression_frame(30).to_csv(index=False).encode(), classification_frame(30, classes=3).to_csv(index=False).encode()]
    return [p.read_bytes() for p in sorted((ROOT / "manifests" / "base").glob("*.yaml"))]


# ---------------------------------------------------------------------------- engines


def run_atheris(target: str, seconds: int, findings: Path) -> None:
    import atheris

    with atheris.instrument_imports(include=["latticenas"]):
        import latticenas.data  # noqa: F401
        import latticenas.katib.validate  # noqa: F401
        import latticenas.runner.experiment  # noqa: F401
    scratch = Path(tempfile.mkdtemp(prefix="fuzz-"))
    corpus = Path(tempfile.mkdtemp(prefix=f"corpus-{target}-"))
    for i, seed in enumerate(seeds(target)):
        (corpus / f"seed-{i}").write_bytes(seed)
    atheris.Setup([sys.argv[0], f"-max_total_time={seconds}", "-max_len=8192", "-rss_limit_mb=4096", str(corpus)],
                  lambda data: one_input(target, data, scratch, findings))
    atheris.Fuzz()  # libFuzzer exits the process when the time is up


def run_hypothesis(target: str, seconds: int, findings: Path) -> int:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    scratch = Path(tempfile.mkdtemp(prefix="fuzz-"))
    base = seeds(target)

    @st.composite
    def mutated(draw):  # a seed with a few byte ranges replaced
        seed = bytearray(draw(st.sampled_from(base)))
        for _ in range(draw(st.integers(1, 8))):
            at = draw(st.integers(0, max(len(seed) - 1, 0)))
            seed[at:at + draw(st.integers(0, 8))] = draw(st.binary(max_size=8))
        return bytes(seed)

    count = 0

    @settings(max_examples=200, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(st.binary(max_size=2000) | mutated())
    def batch(value):
        nonlocal count
        one_input(target, value, scratch, findings)
        count += 1

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        batch()
    return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=120, help="time for all targets together")
    parser.add_argument("--target", choices=[*TARGETS, "all"], default="all")
    parser.add_argument("--findings", type=Path, default=ROOT / "runs" / "fuzz-findings")
    parser.add_argument("--engine", choices=["auto", "atheris", "hypothesis"], default="auto")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    engine = args.engine
    if engine == "auto":
        engine = "atheris" if importlib.util.find_spec("atheris") else "hypothesis"
    targets = TARGETS if args.target == "all" else (args.target,)
    share = max(args.seconds // len(targets), 1)
    if args.child:
        run_atheris(args.target, share, args.findings)
        return 0
    before = set(args.findings.glob("*.txt")) if args.findings.is_dir() else set()
    for target in targets:
        started = time.monotonic()
        if engine == "atheris":  # one process per target: libFuzzer ends the process it runs in
            subprocess.run([sys.executable, __file__, "--child", "--target", target, "--seconds", str(share),
                            "--findings", str(args.findings)], check=False)
            print(f"{target}: atheris, {time.monotonic() - started:.0f}s")
        else:
            count = run_hypothesis(target, share, args.findings)
            print(f"{target}: hypothesis, {count} inputs in {time.monotonic() - started:.0f}s")
    new = sorted(set(args.findings.glob("*.txt")) - before) if args.findings.is_dir() else []
    for finding in new:
        print(f"finding {finding.with_suffix('.bin')}: {finding.read_text().splitlines()[0]}")
    print(f"{len(new)} new finding(s)" + (f" in {args.findings}" if new else ""))
    return 1 if new else 0


if __name__ == "__main__":
    sys.exit(main())
