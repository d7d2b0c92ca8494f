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
