"""Records tests/runner/data/hyperopt-0.2.5-katib.json: run with hyperopt==0.2.5 and numpy<2 in a
separate environment (python record_hyperopt_0_2_5.py random|tpe). It drives hyperopt the way Katib's
hyperopt service (pkg/suggestion/v1beta1/hyperopt/base_service.py at 33c8ff4) does, described
in docs/local-runner.md; not part of the test suite."""
import json, math, sys
import numpy as np, hyperopt
from hyperopt import hp

ALGO = sys.argv[1]
space = {"x": hp.uniform("x", -1.0, 2.0), "lr": hp.loguniform("lr", math.log(1e-4), math.log(0.1)),
         "units": hp.quniform("units", 2.0, 10.0, 2.0), "epochs": hp.quniform("epochs", 1.0, 9.0, 1.0),
         "n": hp.normal("n", 3.0, 1.0), "act": hp.choice("act", ["relu", "elu", "gelu"])}
INTS = ("units", "epochs")
d = hyperopt.Domain(None, space, pass_expr_memo_ctrl=None)
trials, rstate, first = hyperopt.Trials(), np.random.RandomState(7), True
made, pending = [], []

def loss(p):
    return (p["x"] - 0.5) ** 2 + p["units"] / 100 + (p["act"] == 1) * 0.3

for count in [3, 1, 2, 1, 1]:
    for p in pending:  # every trial made so far has finished
        tid = trials.new_trial_ids(1)[0]
        misc = {"tid": tid, "cmd": d.cmd, "workdir": d.workdir, "idxs": {k: [tid] for k in p},
                "vals": {k: [p[k]] for k in p}}
        docs = hyperopt.Trials().new_trial_docs([tid], [{"n": tid}], [{"loss": loss(p), "status": "ok"}], [misc])
        docs[0]["state"] = hyperopt.JOB_STATE_DONE
        trials.insert_trial_docs(docs); trials.refresh()
    pending = []
    ids = trials.new_trial_ids(count)
    seed = rstate.randint(2**31 - 1)
    if ALGO == "random":
        new = hyperopt.rand.suggest(ids, d, trials, seed)
    elif first:
        new = hyperopt.tpe.suggest(ids, d, trials, seed, n_startup_jobs=count)
    else:
        new = [hyperopt.tpe.suggest([i], d, trials, seed, n_startup_jobs=count)[0] for i in ids]
    first = False
    for doc in new:
        v = {k: x[0] for k, x in doc["misc"]["vals"].items()}
        p = {k: (int(v[k]) if k in INTS else int(v[k]) if k == "act" else float(v[k])) for k in v}
        pending.append(p); made.append(p)
print(json.dumps(made))
