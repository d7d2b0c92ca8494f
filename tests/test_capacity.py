"""Size bounds and the memory bound of a parameter set (issue 10, defect 11): refused at
validation, naming the parameter and a bound, before the data loads and again once the
table's width is known, before TensorFlow."""

from __future__ import annotations

import re

import pytest
from factories import regression_frame

from latticenas.capacity import available_memory, check_memory, training_bytes_floor
from latticenas.errors import ParameterError
from latticenas.params import ParameterSet, parameter_fields
from latticenas.trial import check_trial_resources, load_trial_data, parse_config

GIB = 2**30


def bound_in(message: str, name: str) -> int:
    return int(re.search(rf"set {name} <= (\d+)", message).group(1))


@pytest.mark.parametrize("name", ["maximum_levels", "maximum_units_per_level", "maximum_neurons_per_unit", "batch_size"])
def test_every_size_field_has_an_upper_bound_in_its_metadata(name):
    field = {f.name: f for f in parameter_fields()}[name]
    assert field.maximum is not None and field.minimum == 1
    ParameterSet(**{name: field.maximum})  # the bound itself is allowed
    with pytest.raises(ParameterError, match=rf"^{name}={field.maximum + 1} is too large: the bound is "
                                             rf"{field.maximum}; set {name} <= {field.maximum}$"):
        ParameterSet(**{name: field.maximum + 1})


def test_a_minimum_over_the_bound_is_named_itself():
    bound = {f.name: f.maximum for f in parameter_fields()}["minimum_neurons_per_unit"]
    with pytest.raises(ParameterError, match="^minimum_neurons_per_unit=.* is too large"):
        ParameterSet(minimum_neurons_per_unit=bound + 1, maximum_neurons_per_unit=bound + 1)


def test_the_floor_grows_with_every_size_and_with_the_input_width():
    params = ParameterSet()
    base = training_bytes_floor(params)
    for name in ("maximum_levels", "maximum_units_per_level", "maximum_neurons_per_unit", "batch_size"):
        assert training_bytes_floor(params, **{name: getattr(params, name) * 2}) > base
    assert training_bytes_floor(params, input_width=500) > training_bytes_floor(params, input_width=5) > base


def test_the_floor_counts_hidden_to_hidden_weights_only_where_the_sampler_guarantees_them():
    # ceil(0.7 * 4) = 3 units of the level before: every later unit reads a 1000-neuron unit
    wide = ParameterSet(maximum_levels=2, maximum_neurons_per_unit=1000)
    assert training_bytes_floor(wide) >= 16 * 4 * 1000 * 1000
    # floor(0.1 * 4) = 0: a later unit may read only the one-column input
    sparse = ParameterSet(maximum_levels=2, maximum_neurons_per_unit=1000,
                          predecessor_level_connection_affinity_factor_main=0.1,
                          predecessor_level_connection_affinity_factor_main_rounding_rule="floor")
    assert training_bytes_floor(sparse) < 16 * 4 * 1000 * 1000 < training_bytes_floor(sparse, input_width=1000)


def test_a_set_too_large_names_the_parameter_and_the_largest_value_that_fits(tmp_path):
    base = ["--data=x.csv", "--target=y", f"--output-dir={tmp_path / 'o'}"]
    config = parse_config([*base, "--maximum_neurons_per_unit=10000"])
    with pytest.raises(ParameterError, match=r"^maximum_neurons_per_unit=10000 is too large: the largest lattice "
                                             r"this set allows \(3 levels of 4 units of 10000 neurons, batch 64\) "
                                             r"needs at least .* GiB to train and this trial has 1 GiB") as caught:
        check_trial_resources(config, memory_bytes=GIB)
    bound = bound_in(str(caught.value), "maximum_neurons_per_unit")
    params = config.params
    assert training_bytes_floor(params, maximum_neurons_per_unit=bound) <= GIB
    assert training_bytes_floor(params, maximum_neurons_per_unit=bound + 1) > GIB
    check_trial_resources(parse_config([*base, f"--maximum_neurons_per_unit={bound}"]), memory_bytes=GIB)
    check_trial_resources(parse_config(base))  # the defaults fit this machine


def test_the_next_size_is_named_when_the_first_cannot_be_lowered_enough():
    params = ParameterSet(minimum_neurons_per_unit=64, maximum_neurons_per_unit=64, maximum_units_per_level=1000)
    with pytest.raises(ParameterError, match="^maximum_units_per_level=1000 is too large") as caught:
        check_memory(params, memory=GIB // 8)
    assert training_bytes_floor(params, maximum_units_per_level=bound_in(str(caught.value), "maximum_units_per_level")) <= GIB // 8


def test_the_width_of_the_table_is_checked_once_the_schema_is_known(tmp_path):
    frame = regression_frame(60)
    for i in range(40):  # 43 feature columns
        frame[f"extra{i}"] = frame["size"] * (i + 1)
    frame.to_csv(tmp_path / "wide.csv", index=False)
    config = parse_config([f"--data={tmp_path / 'wide.csv'}", "--target=price", f"--output-dir={tmp_path / 'o'}",
                           "--maximum_levels=1", "--maximum_units_per_level=1000", "--maximum_neurons_per_unit=10000",
                           "--batch_size=1"])
    memory = 2 * training_bytes_floor(config.params)  # a one-column input fits
    check_trial_resources(config, memory_bytes=memory)
    with pytest.raises(ParameterError, match=r"maximum_neurons_per_unit=10000 is too large: .*, 43 input columns\)"):
        load_trial_data(config, memory_bytes=memory)
    assert len(load_trial_data(config, memory_bytes=50 * memory).schema.feature_names) == 43


def test_available_memory_is_what_this_machine_reports():
    memory = available_memory()
    assert memory is not None and 2**26 < memory < 2**50
