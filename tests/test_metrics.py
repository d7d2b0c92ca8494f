"""Metric lines: what the trial prints is what Katib's StdOut collector (and the runner) reads."""

import re

import pytest

from latticenas.metrics import KATIB_DEFAULT_FILTER, format_metric_lines, parse_metric_lines


def test_lines_round_trip_through_katibs_default_filter():
    metrics = {"val-rmse": 23456.789, "val-r2": -0.25, "tiny": 1.5e-07, "param-count": 92622.0}
    text = format_metric_lines(metrics)
    for line in text.splitlines():
        match = re.fullmatch(KATIB_DEFAULT_FILTER, line)
        assert match, line
    parsed = parse_metric_lines(text)
    assert {k: v[-1] for k, v in parsed.items()} == pytest.approx(metrics)
    assert "param-count=92622" in text.splitlines()


def test_non_finite_values_are_left_out_and_bad_names_rejected():
    assert format_metric_lines({"a": float("nan"), "b": 1.0}) == "b=1"
    with pytest.raises(ValueError, match="does not match"):
        format_metric_lines({"bad name": 1.0})


def test_parser_keeps_every_value_in_order_and_honours_a_custom_filter():
    text = "epoch 1\nval-rmse=3.0\nnoise\nval-rmse=2.5\n"
    assert parse_metric_lines(text)["val-rmse"] == [3.0, 2.5]
    assert parse_metric_lines("loss: 0.5", r"(\w+):\s*([\d.]+)") == {"loss": [0.5]}
