"""The local runner: ``latticenas experiment run MANIFEST`` executes a Katib Experiment on one
machine with the semantics Katib applies on a cluster.

One module, one abstraction:

* :mod:`.experiment` parses the Experiment manifest into typed, frozen records;
* :mod:`.trials` holds the trial states and the immutable trial snapshot every part shares;
* :mod:`.algorithms` maps Katib ``algorithmName`` to a suggestion engine (optuna, scikit-optimize,
  hyperband); engines are pure functions of the trial history, so a resumed run continues;
* :mod:`.earlystop` is Katib's ``medianstop`` rule;
* :mod:`.process` runs one trial program as a subprocess and collects its metric lines;
* :mod:`.state` keeps the durable state in SQLite (``<experiment dir>/experiment.db``);
* :mod:`.orchestrator` drives trials in parallel and stops the experiment by Katib's rules;
* :mod:`.timebudget` is the wall-clock budget of a run (``--time-budget``): when a trial may
  start, when running trials stop;
* :mod:`.progress` is the terminal progress display;
* :mod:`.report` writes the leaderboard, the progress plot and the best model's artifacts;
* :mod:`.session` runs (or resumes) one Experiment: :func:`~.session.run_experiment`;
* :mod:`.cli` registers ``latticenas experiment run|status`` over it.
"""
