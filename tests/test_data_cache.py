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
