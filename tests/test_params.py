"""ParameterSet: defaults, conversion from command-line strings, validation, decays, rounding."""

from __future__ import annotations

import dataclasses
import math

import pytest

from latticenas.errors import ParameterError
from latticenas.params import (
    ACTIVATIONS,
    FINAL_ACTIVATIONS,
    ParameterSet,
    parameter_fields,
    resolve_decay,
    resolve_rounding,
)


def test_defaults_are_valid_and_round_trip_through_from_mapping():
    params = ParameterSet()
    assert params.maximum_levels == 3 and params.final_activation is None
    assert ParameterSet.from_mapping(params.to_dict()) == params
    as_strings = {k: ("None" if v is None else str(v)) for k, v in params.to_dict().items()}
    assert ParameterSet.from_mapping(as_strings) == params


def test_parameter_set_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        ParameterSet().epochs = 3  # type: ignore[misc]


def test_parameter_fields_describe_every_field():
    records = parameter_fields()
    assert [r.name for r in records] == [f.name for f in dataclasses.fields(ParameterSet)]
    defaults = ParameterSet().to_dict()
    for record in records:
        assert record.default == defaults[record.name]
        assert record.help and "\n" not in record.help
        assert record.type in (int, float, str)
        if record.default is not None:
            assert isinstance(record.default, record.type)
    by_name = {r.name: r for r in records}
    assert by_name["final_activation"].optional and by_name["final_activation"].type is str
    assert by_name["epochs"].type is int and not by_name["epochs"].optional
    assert by_name["learning_rate"].type is float
    assert "softmax" in by_name["final_activation"].choices
    assert "softmax" not in by_name["activation"].choices


def test_from_mapping_converts_command_line_strings():
    params = ParameterSet.from_mapping({
        "maximum_levels": "4", "epochs": "7.0", "learning_rate": "0.01",
        "final_activation": "None", "p_lateral_connection_decay": "0.5",
        "--batch-size": "32", "activation": " gelu ",
    })
    assert params.maximum_levels == 4 and params.epochs == 7 and isinstance(params.epochs, int)
    assert params.learning_rate == 0.01 and params.final_activation is None
    assert params.p_lateral_connection_decay == "0.5" and params.batch_size == 32
    assert params.activation == "gelu"
    assert ParameterSet.from_mapping({"final_activation": ""}).final_activation is None
    assert ParameterSet.from_mapping({"final_activation": "softmax"}).final_activation == "softmax"


def test_numbers_are_normalised():
    params = ParameterSet(learning_rate=1, epochs=5.0, p_lateral_connection_decay=0.25)
    assert isinstance(params.learning_rate, float) and isinstance(params.epochs, int)
    assert params.p_lateral_connection_decay == "0.25"


@pytest.mark.parametrize("name, value", [
    ("epochs", "abc"), ("epochs", "2.5"), ("learning_rate", "fast"), ("seed", "1e"),
])
def test_from_mapping_rejects_unconvertible_strings(name, value):
    with pytest.raises(ParameterError, match=name):
        ParameterSet.from_mapping({name: value})


def test_unknown_name_suggests_the_closest_known_name():
    with pytest.raises(ParameterError, match="maximum_level.*did you mean 'maximum_levels'"):
        ParameterSet.from_mapping({"maximum_level": "3"})
    with pytest.raises(ParameterError, match="p_lateral_conection.*'p_lateral_connection'"):
        ParameterSet.from_mapping({"p_lateral_conection": "0.1"})
    with pytest.raises(ParameterError, match="zzz"):
        ParameterSet.from_mapping({"zzz": "1"})


def test_min_greater_than_max_message():
    with pytest.raises(ParameterError) as info:
        ParameterSet(minimum_levels=3, maximum_levels=1)
    assert str(info.value) == (
        "maximum_levels=1 is less than minimum_levels=3; set maximum_levels >= minimum_levels"
    )


INVALID = [
    ({"minimum_levels": 0}, "minimum_levels"),
    ({"minimum_levels": 3, "maximum_levels": 2}, "maximum_levels"),
    ({"minimum_units_per_level": 0}, "minimum_units_per_level"),
    ({"minimum_units_per_level": 5, "maximum_units_per_level": 4}, "maximum_units_per_level"),
    ({"minimum_neurons_per_unit": 0}, "minimum_neurons_per_unit"),
    ({"minimum_neurons_per_unit": 50}, "maximum_neurons_per_unit"),
    ({"minimum_skip_connection_depth": 0}, "minimum_skip_connection_depth"),
    ({"minimum_skip_connection_depth": 4}, "maximum_skip_connection_depth"),
    ({"num_lateral_connection_tries_per_unit": 0}, "num_lateral_connection_tries_per_unit"),
    ({"max_consecutive_lateral_connections": -1}, "max_consecutive_lateral_connections"),
    ({"gate_after_n_lateral_connections": -1}, "gate_after_n_lateral_connections"),
    ({"number_of_architecture_moities_to_try": 0}, "number_of_architecture_moities_to_try"),
    ({"number_of_tries_per_architecture_moity": 0}, "number_of_tries_per_architecture_moity"),
    ({"seed": -1}, "seed"),
    ({"epochs": 0}, "epochs"),
    ({"batch_size": 0}, "batch_size"),
    ({"patience": -1}, "patience"),
    ({"p_lateral_connection": 1.5}, "p_lateral_connection"),
    ({"p_lateral_connection": -0.1}, "p_lateral_connection"),
    ({"p_lateral_connection": math.nan}, "p_lateral_connection"),
    ({"learning_rate": 0.0}, "learning_rate"),
    ({"learning_rate": -1.0}, "learning_rate"),
    ({"learning_rate": math.inf}, "learning_rate"),
    ({"weight_decay": -1e-3}, "weight_decay"),
    ({"predecessor_level_connection_affinity_factor_first": -1.0},
     "predecessor_level_connection_affinity_factor_first"),
    ({"predecessor_level_connection_affinity_factor_main": math.nan},
     "predecessor_level_connection_affinity_factor_main"),
    ({"activation": "softmax"}, "activation"),
    ({"activation": "rleu"}, "activation"),
    ({"final_activation": "soft_max"}, "final_activation"),
    ({"gate_activation_function": "gate"}, "gate_activation_function"),
    ({"predecessor_level_connection_affinity_factor_first_rounding_rule": "up"},
     "predecessor_level_connection_affinity_factor_first_rounding_rule"),
    ({"predecessor_level_connection_affinity_factor_main_rounding_rule": "Ceil"},
     "predecessor_level_connection_affinity_factor_main_rounding_rule"),
    ({"predecessor_level_connection_affinity_factor_decay_main": "fast_decay"},
     "predecessor_level_connection_affinity_factor_decay_main"),
    ({"p_lateral_connection_decay": "1.5"}, "p_lateral_connection_decay"),
    ({"p_lateral_connection_decay": "zero_x_exp_decay"}, "p_lateral_connection_decay"),
    ({"epochs": "30"}, "epochs"),
    ({"epochs": True}, "epochs"),
    ({"epochs": 2.5}, "epochs"),
    ({"learning_rate": "0.1"}, "learning_rate"),
    ({"activation": 3}, "activation"),
]


@pytest.mark.parametrize("kwargs, name", INVALID, ids=[f"{n}-{i}" for i, (_, n) in
                                                      enumerate(INVALID)])
def test_invalid_values_raise_a_one_line_error_naming_the_parameter(kwargs, name):
    with pytest.raises(ParameterError, match=rf"^{name}=") as info:
        ParameterSet(**kwargs)
    message = str(info.value)
    assert "\n" not in message and "; " in message


def test_activation_sets():
    for activation in ACTIVATIONS:
        assert ParameterSet(activation=activation, gate_activation_function=activation)
    for activation in FINAL_ACTIVATIONS:
        assert ParameterSet(final_activation=activation).final_activation == activation


def test_close_activation_is_suggested():
    with pytest.raises(ParameterError, match="did you mean 'relu'"):
        ParameterSet(activation="rleu")


@pytest.mark.parametrize("value, base", [
    ("zero_7_exp_decay", 0.7), ("zero_95_exp_decay", 0.95), ("zero_5_exp_decay", 0.5),
    ("no_decay", 1.0), ("0.3", 0.3), (0.9, 0.9), (1, 1.0), ("zero_0_exp_decay", 0.0),
])
def test_resolve_decay(value, base):
    decay = resolve_decay(value)
    assert decay(0) == 1.0
    for d in range(1, 5):
        assert decay(d) == pytest.approx(base**d)


@pytest.mark.parametrize("value", ["zero_exp_decay", "fast", "2", "-0.1", "nan", None, True])
def test_resolve_decay_rejects_unknown(value):
    with pytest.raises(ParameterError, match="decay"):
        resolve_decay(value)


def test_resolve_rounding():
    assert resolve_rounding("ceil")(2.1) == 3 and resolve_rounding("floor")(2.9) == 2
    assert resolve_rounding("round")(2.5) == 3 and resolve_rounding("round")(2.4) == 2
    assert resolve_rounding("ceil")(0.7 * 10) == 7  # float noise 7.000000000000001
    assert isinstance(resolve_rounding("ceil")(1.2), int)
    with pytest.raises(ParameterError, match="rounding_rule='up'"):
        resolve_rounding("up")
