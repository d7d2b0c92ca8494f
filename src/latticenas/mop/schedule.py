"""Which model trains on which worker next: Cerebro's randomized MOP scheduler (pure Python).

Contract:

* :func:`assign_partitions` gives every partition one owning worker: an owner that is still
  alive keeps its partitions; the partitions of a worker that left go, one by one, to the live
  worker owning the fewest (ties: the lowest address). Each worker holds only what it owns.
* :class:`HopScheduler` keeps each model's epoch: the partitions it has still to visit. For
  every idle worker (in a random order) it picks, among the models that are idle and still
  need a partition that worker owns, one at random and, for it, one such partition at random.
  So no worker trains two models at once, no model is on two workers at once, and every model
  visits every partition exactly once per epoch, in an order the seeded generator randomizes.
  A model's epoch ends with the hop that takes its last partition (:meth:`HopScheduler.done`
  reports it); the next epoch starts over with every partition.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np


def assign_partitions(partitions: Sequence[int], workers: Sequence[str],
                      previous: Mapping[int, str] | None = None) -> dict[int, str]:
    """Partition -> owning worker (see the module doc); empty when no worker is alive."""
    alive = sorted(workers)
    if not alive:
        return {}
    owner = {p: w for p, w in (previous or {}).items() if w in alive and p in partitions}
    load = {w: sum(1 for o in owner.values() if o == w) for w in alive}
    for p in sorted(partitions):
        if p not in owner:
            worker = min(alive, key=lambda w: (load[w], w))
            owner[p] = worker
            load[worker] += 1
    return owner


@dataclass(frozen=True)
class Hop:
    model: str
    partition: int
    worker: str
    epoch: int  # 1-based
    last: bool  # the model's last partition of this epoch: validate after it


class HopScheduler:
    """The epochs of a set of models over a set of partitions (see the module doc)."""

    def __init__(self, models: Iterable[str], partitions: Sequence[int], seed: int = 0):
        self.partitions = tuple(partitions)
        if not self.partitions:
            raise ValueError("no partitions to schedule")
        self.rng = np.random.default_rng(seed)
        self.remaining = {m: set(self.partitions) for m in models}
        self.epoch = {m: 1 for m in self.remaining}
        self.busy: dict[str, str] = {}  # model -> worker

    def active(self) -> list[str]:
        return list(self.remaining)

    def next_hops(self, workers: Sequence[str], owner: Mapping[int, str]) -> list[Hop]:
        """Hops to start now on the idle ones of ``workers``; marks them busy."""
        taken = set(self.busy.values())
        idle = [w for w in sorted(workers) if w not in taken]
        hops = []
        for worker in self.rng.permutation(idle) if idle else ():
            worker = str(worker)
            mine = {p for p, w in owner.items() if w == worker}
            candidates = sorted(m for m, left in self.remaining.items() if m not in self.busy and left & mine)
            if not candidates:
                continue
            model = candidates[int(self.rng.integers(len(candidates)))]
            choices = sorted(self.remaining[model] & mine)
            partition = choices[int(self.rng.integers(len(choices)))]
            self.busy[model] = worker
            hops.append(Hop(model, partition, worker, self.epoch[model], len(self.remaining[model]) == 1))
        return hops

    def done(self, hop: Hop) -> bool:
        """Record a finished hop; True when it ended the model's epoch."""
        self.busy.pop(hop.model, None)
        left = self.remaining[hop.model]
        left.discard(hop.partition)
        if left:
            return False
        self.remaining[hop.model] = set(self.partitions)
        self.epoch[hop.model] += 1
        return True

    def lost(self, hop: Hop) -> None:
        """A hop that did not finish (its worker died): the partition stays to visit."""
        self.busy.pop(hop.model, None)

    def stop(self, model: str) -> None:
        """The model trains no more (early stopped, out of epochs, diverged or failed)."""
        self.remaining.pop(model, None)
        self.busy.pop(model, None)
