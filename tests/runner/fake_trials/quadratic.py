"""A small real trial program for the runner's tests (stdlib only, starts fast).

loss = (x - 0.3)**2 + (y - 2)**2 / 10 + (0.5 if opt == "b" else 0) + level / 100, printed as a
Katib metric line once per step (``--steps``), approaching that value from above
(step k of n adds (n - k) / n), then ``accuracy`` once. It sleeps ``--sleep`` seconds per
step, writes ``times.json`` (start/end) and a ``best/`` folder into ``--output-dir``, and can
misbehave on purpose: ``--fail-above T`` exits 3 when x > T, ``--die-above T`` kills its own
process (SIGKILL) after the first step when x > T, ``--silent-above T`` prints no
metric when x > T, ``--bad-from K`` adds 10 to the loss of trials numbered K or later (the
number ends ``--trial-name``).
"""

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--x", type=float, default=0.0)
    parser.add_argument("--y", type=float, default=2.0)
    parser.add_argument("--opt", default="a")
    parser.add_argument("--level", type=float, default=0.0)
    parser.add_argument("--steps", type=int, default=1)
    parser.add_argument("--sleep", type=float, default=0.0)
    parser.add_argument("--fail-above", type=float)
    parser.add_argument("--silent-above", type=float)
    parser.add_argument("--die-above", type=float)
    parser.add_argument("--bad-from", type=int)
    parser.add_argument("--output-dir")
    parser.add_argument("--trial-name")
    args = parser.parse_args()

    start = time.time()
    loss = (args.x - 0.3) ** 2 + (args.y - 2) ** 2 / 10 + (0.5 if args.opt == "b" else 0.0) + args.level / 100
    if args.bad_from is not None and int(args.trial_name.rsplit("-", 1)[1]) >= args.bad_from:
        loss += 10
    silent = args.silent_above is not None and args.x > args.silent_above
    print(f"trial {os.environ.get('LATTICENAS_TRIAL_NAME')} starts", file=sys.stderr)
    for step in range(1, args.steps + 1):
        time.sleep(args.sleep)
        if not silent:
            print(f"loss={loss + (args.steps - step) / args.steps!r}", flush=True)
        if args.die_above is not None and args.x > args.die_above:
            os.kill(os.getpid(), signal.SIGKILL)
        if args.fail_above is not None and args.x > args.fail_above:
            print("diverged", file=sys.stderr)
            return 3
    if not silent:
        print(f"accuracy={1.0 / (1.0 + loss)!r}", flush=True)
    if args.output_dir:
        out = Path(args.output_dir)
        (out / "best").mkdir(parents=True, exist_ok=True)
        (out / "best" / "spec.json").write_text(json.dumps({"x": args.x, "y": args.y, "opt": args.opt}))
        (out / "best" / "model.keras").write_bytes(b"not really a model")
        (out / "times.json").write_text(json.dumps({"start": start, "end": time.time(), "trial": args.trial_name}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
