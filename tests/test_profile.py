"""The data profile: exact numbers on a small hand-made table, for both target kinds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from latticenas.data import data_fingerprint, load_dataset
from latticenas.profile import dataset_fingerprint, profile_dict, profile_markdown


def _table(tmp_path, frame, target):
    path = tmp_path / "table.csv"
    frame.to_csv(path, index=False)
    return load_dataset(str(path), target)


@pytest.fixture
def regression_dataset(tmp_path):
    n = 100
    area = np.arange(n, dtype=float)  # 0..99
    area[[3, 13, 23, 33, 43]] = np.nan  # 5 missing
    zone = ["a"] * 60 + ["b"] * 30 + ["c"] * 10
    zone[99] = None  # 1 missing: c now 9
    price = np.random.default_rng(1).permutation(n) * 10.0 + 1000  # 1000..1990, shuffled
    frame = pd.DataFrame({"area": area, "zone|x": zone, "price": price})
    return _table(tmp_path, frame, "price")


def test_regression_profile_numbers(regression_dataset):
    p = profile_dict(regression_dataset)
    assert p["task"] == "regression" and p["target"] == "price"
    rows = p["rows"]
    assert rows["total"] == 100 == rows["train"] + rows["validation"] + rows["test"]
    assert rows["train"] == len(regression_dataset.train) and rows["test"] == len(regression_dataset.test)
    area, zone = p["columns"]
    assert area == {"name": "area", "kind": "numeric", "missing": 5, "missing_pct": 5.0, "unique": 95,
                    "min": 0.0, "mean": pytest.approx(np.mean([v for v in range(100) if v % 10 != 3 or v > 43])),
                    "max": 99.0}
    assert zone["kind"] == "categorical" and zone["missing"] == 1 and zone["unique"] == 3
    assert zone["top"] == [{"value": "a", "count": 60}, {"value": "b", "count": 30}, {"value": "c", "count": 9}]
    summary = p["target_summary"]
    assert summary["quantiles"]["min"] == 1000 and summary["quantiles"]["max"] == 1990
    assert summary["quantiles"]["p50"] == pytest.approx(1495.0) and summary["quantiles"]["p25"] == pytest.approx(1247.5)
    assert summary["mean"] == pytest.approx(1495.0)
    assert p["fingerprint"] == dataset_fingerprint(regression_dataset)
    everything = pd.concat([regression_dataset.train, regression_dataset.val, regression_dataset.test]).sort_index()
    assert p["fingerprint"] == data_fingerprint(everything)


def test_regression_markdown_shows_the_numbers(regression_dataset):
    text = profile_markdown(regression_dataset)
    p = profile_dict(regression_dataset)
    assert text.startswith("# Data profile")
    assert p["fingerprint"] in text
    assert f"| train | {p['rows']['train']} |" in text and "| total | 100 | 100.0% |" in text
    assert "| area | numeric | 5 | 5.0% | 95 | 0 |" in text and "| 99 |" in text
    assert "| zone\\|x | categorical | 1 | 1.0% | 3 |" in text  # the pipe is escaped
    assert "a (60), b (30), c (9)" in text
    assert "| min | p5 | p25 | p50 | p75 | p95 | max | mean | std |" in text
    assert "| 1000 |" in text and "| 1990 |" in text


def test_classification_profile_counts_classes_per_split(tmp_path):
    rng = np.random.default_rng(0)
    labels = ["yes"] * 70 + ["no"] * 30
    frame = pd.DataFrame({"x": rng.normal(size=100), "label": labels})
    dataset = _table(tmp_path, frame, "label")
    p = profile_dict(dataset)
    summary = p["target_summary"]
    assert p["task"] == "binary" and summary["classes"] == ["no", "yes"]
    assert summary["counts"] == {"no": 30, "yes": 70}
    by_split = summary["counts_by_split"]
    assert sum(by_split["test"].values()) == len(dataset.test)
    assert by_split["train"]["yes"] + by_split["validation"]["yes"] + by_split["test"]["yes"] == 70
    text = profile_markdown(dataset)
    assert "| class | count | share | train | validation | test |" in text
    assert f"| yes | 70 | 70.0% | {by_split['train']['yes']} | {by_split['validation']['yes']} | {by_split['test']['yes']} |" in text
