"""latticenas.data.cache: the last trial's table, reused by content and options, as a copy."""

from __future__ import annotations

import pytest
from factories import regression_frame

from latticenas.data import load_dataset
from latticenas.data.cache import DataCache


@pytest.fixture
def table(tmp_path):
    path = tmp_path / "houses.csv"
    regression_frame(120).to_csv(path, index=False)
    return path


def _load(cache: DataCache, path, **options):
    options = {"target": "price", "val_fraction": 0.2, "test_fraction": 0.2, **options}
    return cache.load(str(path), tuple(options.items()), lambda: load_dataset(str(path), **options))


def test_the_same_content_and_options_are_read_once_and_each_trial_gets_its_own_copy(table):
    cache = DataCache()
    first = _load(cache, table)
    second = _load(cache, table)
    assert (cache.misses, cache.hits) == (1, 1)
    assert second.train.equals(first.train) and second.schema == first.schema
    second.train.iloc[0, 0] = -1.0  # a trial that changes its frames does not change the next trial's
    assert _load(cache, table).train.iloc[0, 0] == first.train.iloc[0, 0]


def test_changed_content_or_options_read_the_table_again(table):
    cache = DataCache()
    _load(cache, table)
    _load(cache, table, val_fraction=0.3)  # another option
    frame = regression_frame(120)
    frame.loc[0, "price"] += 1.0
    frame.to_csv(table, index=False)  # the same path, other content
    changed = _load(cache, table, val_fraction=0.3)
    assert (cache.misses, cache.hits) == (3, 0)
    assert changed.source_uri == str(table)


def test_a_directory_or_remote_uri_is_never_cached(tmp_path):
    cache = DataCache()
    calls = []
    for _ in range(2):
        cache.load("gs://bucket/houses.csv", (), lambda: calls.append(1) or "read")
    assert calls == [1, 1] and cache.hits == 0


def test_values_derived_from_the_table_are_kept_with_it_and_dropped_with_it(table):
    cache = DataCache()
    calls = []

    def compute(tag):
        return lambda: calls.append(tag) or f"value-{tag}"

    first = _load(cache, table)
    assert cache.derived(first, ("a",), compute(1)) == "value-1"
    second = _load(cache, table)  # the next trial, on the same table
    assert cache.derived(second, ("a",), compute(2)) == "value-1"  # kept
    assert cache.derived(second, ("b",), compute(3)) == "value-3"  # other options: computed
    assert cache.derived(first, ("a",), compute(4)) == "value-4"  # not the last table issued: not kept
    _load(cache, table, val_fraction=0.3)  # another table
    assert cache.derived(_load(cache, table), ("a",), compute(5)) == "value-5"  # dropped with the old one
    assert calls == [1, 3, 4, 5]


def test_a_warm_trials_prepared_arrays_are_the_last_ones_with_a_fresh_encoder(table, monkeypatch):
    import numpy as np

    from latticenas.data import cache as cache_module
    from latticenas.train import prepare, prepare_cached

    cache = DataCache()
    monkeypatch.setattr(cache_module, "_process_cache", cache)
    first = prepare_cached(_load(cache, table), None, "quantile")
    second = prepare_cached(_load(cache, table), None, "quantile")
    assert second.x_train["dense_features"] is first.x_train["dense_features"]  # reused, not encoded again
    assert second.encoder is not first.encoder and second.stats == first.stats
    assert not second.x_train["dense_features"].flags.writeable  # no trial can change the next one's
    plain = prepare(load_dataset(str(table), target="price", val_fraction=0.2, test_fraction=0.2), None, "quantile")
    for name in plain.x_train:
        np.testing.assert_array_equal(second.x_train[name], plain.x_train[name])
    np.testing.assert_array_equal(np.asarray(second.encoder(plain.x_val_raw)["dense_features"]), plain.x_val["dense_features"])
    other = prepare_cached(_load(cache, table), None, "standard")  # another encoding: its own arrays
    assert other.x_train["dense_features"] is not first.x_train["dense_features"]
