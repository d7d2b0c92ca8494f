"""What a run shows in the terminal while it goes.

Contract: a tqdm bar on stderr (hidden when stderr is not a terminal) counting finished trials
against the trial budget, and, always, one line per finished trial on stderr: its name, state,
objective value and the best value so far. :meth:`Progress.note` prints other one-line news.
"""

from __future__ import annotations

import sys
from typing import TextIO

from tqdm import tqdm

from latticenas.runner.experiment import Experiment
from latticenas.runner.trials import TrialRecord


def format_value(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"


class Progress:
    def __init__(self, experiment: Experiment, total: int | None, done: int, stream: TextIO | None = None) -> None:
        self.experiment = experiment
        self.stream = stream or sys.stderr
        self.total = total
        self.done = done
        interactive = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.bar = tqdm(
            total=total,
            initial=done,
            desc=experiment.name,
            unit="trial",
            file=self.stream,
            disable=not interactive,
            dynamic_ncols=True,
            leave=False,
        )

    def note(self, text: str) -> None:
        tqdm.write(text, file=self.stream)

    def trial_finished(self, trial: TrialRecord, best: TrialRecord | None) -> None:
        self.done += 1
        metric = self.experiment.objective.metric
        count = f"{self.done}/{self.total}" if self.total else str(self.done)
        best_text = f"best {format_value(best.objective)} ({best.name})" if best else "best -"
        duration = f"{trial.duration:.1f}s" if trial.duration is not None else "-"
        line = (
            f"[{count}] {trial.name}  {trial.state.value:<18} "
            f"{metric}={format_value(trial.objective)}  {best_text}  {duration}"
        )
        if trial.message:
            line += f"  ({trial.message})"
        self.note(line)
        self.bar.update(1)
        if best is not None:
            self.bar.set_postfix_str(f"best {metric}={format_value(best.objective)}")

    def close(self) -> None:
        self.bar.close()
