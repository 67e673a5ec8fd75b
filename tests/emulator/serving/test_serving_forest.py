"""The forest fast path answers exactly what the model's own predict answers."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_iris
from sklearn.ensemble import (
    ExtraTreesClassifier,
    GradientBoostingClassifier,
    RandomForestClassifier,
)
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from vertexdeploy.emulator.serving.errors import PredictionInputError
from vertexdeploy.emulator.serving.predictors import SklearnPredictor


def _shifted(x: np.ndarray, n: int) -> np.ndarray:
    """Rows near the data, and off it, so some land on close votes between classes."""
    rng = np.random.default_rng(7)
    return x[rng.integers(0, len(x), n)] * rng.normal(1.0, 0.4, (n, x.shape[1]))


@pytest.mark.parametrize("forest", [RandomForestClassifier, ExtraTreesClassifier])
@pytest.mark.parametrize("data", [load_iris, load_breast_cancer])
@pytest.mark.parametrize("labels", [int, str])
def test_fast_forest_predictions_are_the_models_own(
    forest: type, data: object, labels: type
) -> None:
    x, y = data(return_X_y=True)  # type: ignore[operator]
    model = forest(n_estimators=30, random_state=0).fit(x, y.astype(labels))
    predictor = SklearnPredictor(model)
    assert predictor._forest is not None  # the fast path is the one under test
    rows = _shifted(x, 400)
    assert predictor.predict(rows.tolist()) == model.predict(rows).tolist()
    assert predictor.predict(rows[:1].tolist()) == model.predict(rows[:1]).tolist()


def test_other_models_and_odd_inputs_go_to_the_model_itself() -> None:
    x, y = load_iris(return_X_y=True)
    for other in (
        GradientBoostingClassifier(n_estimators=5).fit(x, y),
        make_pipeline(StandardScaler(), RandomForestClassifier(n_estimators=5)).fit(x, y),
    ):
        assert SklearnPredictor(other)._forest is None
    forest = SklearnPredictor(RandomForestClassifier(n_estimators=5, random_state=0).fit(x, y))
    with pytest.raises(PredictionInputError, match="features"):  # sklearn's own message
        forest.predict([[1.0, 2.0, 3.0]])
    nan_row = [[float("nan"), 3.0, 1.0, 0.2]]  # trees that saw no NaN: sklearn's answer
    assert forest.predict(nan_row) == forest.model.predict(np.asarray(nan_row)).tolist()
