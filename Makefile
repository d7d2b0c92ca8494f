# latticenas: every target creates the environment it needs in .venv (reused on the next run).
# The environment is resolved by uv from pyproject.toml + uv.lock (kubeflow-katib's protobuf<5
# pin is overridden there, see [tool.uv] in pyproject.toml).

PYTHON ?= python3
UV_HOME := .uvtool
UV := $(UV_HOME)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
MANIFEST ?= manifests/base/experiment-random.yaml
EXPERIMENT_DIR ?= experiments/demo

.PHONY: setup demo trial pipeline test image-test fuzz benchmark benchmark-quality manifests clean

$(UV):
	$(PYTHON) -m venv $(UV_HOME)
	$(UV_HOME)/bin/pip install --quiet --disable-pip-version-check "uv>=0.5,<1"

$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --extra dev
	@touch $@

setup: $(VENV)/.synced ## create .venv with the library, its tools and the test dependencies

demo: setup ## a real local search on the bundled Ames data, then the leaderboard
	$(BIN)/latticenas experiment run $(MANIFEST) --dir $(EXPERIMENT_DIR)

trial: setup ## one trial on Ames (what a single Katib trial container does)
	$(BIN)/latticenas-trial --data=example:ames --target=price --drop-columns=Order,PID \
		--objective=val-rmse --output-dir=runs/ames-trial --epochs=25 \
		--number_of_architecture_moities_to_try=2

pipeline: setup ## the whole Kubeflow pipeline on this machine (kfp.local), small budget
	$(BIN)/latticenas pipeline run --local --max-trials 4 --parallel 2 --dir runs/pipeline

test: setup ## the whole test suite
	$(BIN)/pytest -q

image-test: setup ## build trial-cpu and the component image (docker, podman or buildah) and run them; see docker/README.md
	$(BIN)/pytest -q -m image tests/images

fuzz: setup ## fuzz the manifest validator and the CSV reader for FUZZ_SECONDS (atheris if installed, else hypothesis)
	$(BIN)/python tests/fuzz/fuzz_inputs.py --seconds $(or $(FUZZ_SECONDS),120)

benchmark: setup ## lattice vs MLP throughput, fused vs sequential training, runner overhead (see benchmarks/README.md)
	$(BIN)/python benchmarks/trial_throughput.py
	$(BIN)/python benchmarks/fused_throughput.py
	$(BIN)/python benchmarks/runner_overhead.py

benchmark-quality: setup ## final model vs HistGradientBoosting on fixed splits (about 1.5 h on 2 cores)
	$(BIN)/python benchmarks/quality.py ames --seeds 0,1,2 --max-trials 24 --dir experiments/quality
	$(BIN)/python benchmarks/quality.py chile --max-trials 24 --dir experiments/quality
	$(BIN)/python benchmarks/quality.py hi --max-trials 12 --dir experiments/quality
	$(BIN)/python benchmarks/quality.py computers --max-trials 16 --dir experiments/quality

manifests: setup ## regenerate the Katib manifests from search_spaces/ames.yaml
	$(BIN)/latticenas manifests generate

clean:
	rm -rf $(VENV) $(UV_HOME) runs experiments .pytest_cache
