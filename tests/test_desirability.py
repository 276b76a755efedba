"""Desirability transforms and their combination."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

import designer
from designer.oracles.desirability import Component, Objective, reverse_sigmoid, sigmoid, step, window


def test_sigmoid_runs_from_low_to_high() -> None:
    x = np.array([0.0, 0.3, 0.6, 0.9, 1.2])
    y = sigmoid(x, 0.3, 0.9)
    assert np.all(np.diff(y) > 0)
    assert y[2] == pytest.approx(0.5)
    assert y[0] < 0.01 and y[-1] > 0.99
    np.testing.assert_allclose(reverse_sigmoid(x, 0.3, 0.9), 1 - y)


def test_step_and_window() -> None:
    x = np.array([1.0, 2.0, 3.0, 4.0])
    assert step(x, 2.0, 3.0).tolist() == [0, 1, 1, 0]
    w = window(x, 2.0, 3.0, width=1.0)
    assert w[1] == w[2] == 1.0 and w[0] == pytest.approx(np.exp(-0.5))


def test_geometric_combination_and_nan() -> None:
    objective = Objective(components=[
        Component(oracle="a", transform="step", low=0, high=1, weight=1),
        Component(oracle="b", weight=3),
    ])
    columns = {"a": np.array([0.5, 0.5, 2.0, np.nan]), "b": np.array([1.0, 0.25, 1.0, 1.0])}
    score = objective.combine(columns)
    assert score[0] == pytest.approx(1.0)
    assert score[1] == pytest.approx(0.25 ** 0.75)
    assert score[2] == 0.0 and score[3] == 0.0  # outside the step, and NaN, both score 0


def test_arithmetic_combination() -> None:
    objective = Objective(method="arithmetic", components=[Component(oracle="a"), Component(oracle="b", weight=3)])
    assert objective.combine({"a": np.array([1.0]), "b": np.array([0.0])})[0] == pytest.approx(0.25)


def test_components_validate() -> None:
    with pytest.raises(ValidationError, match="needs low and high"):
        Component(oracle="qed", transform="sigmoid")
    with pytest.raises(ValidationError, match="must be below"):
        Component(oracle="qed", transform="step", low=1, high=0)


def test_score_with_an_objective_adds_a_column() -> None:
    table = designer.score(["CC(=O)Oc1ccccc1C(=O)O", "CCO"], ["qed"], objective={
        "name": "drug_like", "components": [
            {"oracle": "qed", "transform": "sigmoid", "low": 0.3, "high": 0.7},
            {"oracle": "sa", "transform": "reverse_sigmoid", "low": 2, "high": 6}]})
    assert set(table.columns) == {"qed", "sa", "drug_like"}
    assert table.columns["drug_like"][0] > table.columns["drug_like"][1]
