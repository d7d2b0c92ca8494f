"""The trial picks its tf.distribute strategy from the hardware it finds."""

import pytest

from latticenas.distribute import pick_strategy

pytestmark = pytest.mark.slow


def test_cpu_machine_gets_the_default_strategy(monkeypatch):
    for name in ("TPU_NAME", "TPU_WORKER_ID", "LATTICENAS_STRATEGY"):
        monkeypatch.delenv(name, raising=False)
    import tensorflow as tf

    choice = pick_strategy()
    if tf.config.list_physical_devices("GPU"):
        pytest.skip("this machine has a GPU")
    assert choice.strategy is None and choice.description == "default (CPU)"


def test_strategy_can_be_forced_to_default(monkeypatch):
    monkeypatch.setenv("LATTICENAS_STRATEGY", "default")
    assert "forced" in pick_strategy().description
