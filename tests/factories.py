"""Small, generated tables for tests (seeded; a few hundred rows so training takes seconds)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def regression_frame(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    size = rng.uniform(50, 300, n)
    rooms = rng.integers(1, 8, n).astype(float)
    rooms[rng.random(n) < 0.1] = np.nan  # missing values must be handled inside the model
    zone = rng.choice(["north", "south", "east", "west"], n)
    zone_effect = pd.Series(zone).map({"north": 30, "south": -10, "east": 5, "west": 0}).to_numpy()
    noise = rng.normal(0, 8, n)
    price = 1000 * (50 + 0.8 * size + 12 * np.nan_to_num(rooms, nan=3) + zone_effect + noise)
    return pd.DataFrame({"size": size, "rooms": rooms, "zone": zone, "price": price})


def classification_frame(n: int = 400, classes: int = 2, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    colour = rng.choice(["red", "green", "blue"], n)
    score = x1 + 0.5 * x2 + (colour == "red") * 0.8 + rng.normal(0, 0.3, n)
    edges = np.quantile(score, np.linspace(0, 1, classes + 1)[1:-1])
    labels = np.array([f"class_{i}" for i in range(classes)])[np.digitize(score, edges)]
    return pd.DataFrame({"x1": x1, "x2": x2, "colour": colour, "label": labels})


TINY_SPACE = {  # trials of a few seconds plus TensorFlow's start
    "name": "tiny",
    "objective": {"metric": "val-rmse", "type": "minimize"},
    "additional_metrics": ["val-r2"],
    "budget": {"max_trials": 2, "parallel_trials": 1},
    "fixed": {"data": "example:ames", "target": "price", "epochs": 2, "patience": 2, "batch_size": 64,
              "number_of_architecture_moities_to_try": 1, "minimum_levels": 1, "maximum_levels": 1,
              "minimum_units_per_level": 1, "maximum_units_per_level": 1, "minimum_neurons_per_unit": 4},
    "parameters": {"maximum_neurons_per_unit": {"type": "int", "min": 4, "max": 8},
                   "learning_rate": {"type": "double", "min": 0.003, "max": 0.03, "distribution": "logUniform"}},
    "algorithms": {"random": {"random_state": 1}},
}
