"""The pure parts of continuous evaluation: metrics, slices, cost, the BigQuery reader's SQL."""

from __future__ import annotations

import json
from typing import Any

import pytest

from vertexdeploy.evaluation.cost import HOURS_PER_MONTH, line, machine_hourly
from vertexdeploy.evaluation.metrics import classification, predicted, regression, slicer
from vertexdeploy.evaluation.reader import BigQueryLogReader
from vertexdeploy.evaluation.resources import parse
from vertexdeploy.manifest.spec_base import AcceleratorSpec


def test_classification_metrics_with_scores() -> None:
    labels = [1, 1, 0, 0, 1, 0]
    preds = [[0.1, 0.9], [0.3, 0.7], [0.6, 0.4], [0.8, 0.2], [0.55, 0.45], [0.4, 0.6]]
    s = classification(labels, preds)
    assert s.accuracy == pytest.approx(4 / 6)
    assert s.f1 == pytest.approx(2 * 2 / (2 * 2 + 1 + 1))  # tp 2, fp 1, fn 1
    # positives score 0.9, 0.7, 0.45; negatives 0.4, 0.2, 0.6: 8 of 9 pairs ordered right
    assert s.auc == pytest.approx(8 / 9)


def test_bare_labels_have_no_auc_and_multiclass_gets_macro_f1() -> None:
    s = classification(["a", "b", "c", "a"], ["a", "b", "b", "a"])
    assert s.accuracy == 0.75 and s.auc is None
    assert s.f1 == pytest.approx((1.0 + 2 / 3 + 0.0) / 3)


def test_prediction_shapes() -> None:
    assert predicted({"classes": ["no", "yes"], "scores": [0.3, 0.7]}) == (
        "yes",
        {"no": 0.3, "yes": 0.7},
    )
    assert predicted(2.0) == ("2", None)
    assert predicted({"label": True}) == ("1", None)


def test_regression_metrics() -> None:
    s = regression([1.0, 2.0, 3.0], [[1.5], {"value": 2.0}, 1.0])
    assert s.mae == pytest.approx((0.5 + 0 + 2) / 3)
    assert s.rmse == pytest.approx(((0.25 + 4) / 3) ** 0.5)


def test_slices_are_quartile_bins_or_top_categories() -> None:
    bins = slicer(list(range(100)))
    assert len({bins(v) for v in range(100)}) == 4
    assert bins(None) == "(missing)"
    cats = slicer(["a"] * 5 + ["b"] * 4 + ["c"] * 3 + ["d"] * 2 + ["e"] * 2 + ["f"])
    assert cats("a") == "a" and cats("f") == "(other)"


def test_cost_of_a_gpu_deployment() -> None:
    assert machine_hourly("n1-standard-4") == (0.219, False)
    priced, estimated = machine_hourly("n2d-standard-8")
    assert estimated and priced > 0
    c = line("gpu", "n1-standard-4", AcceleratorSpec(type="NVIDIA_TESLA_T4", count=2), 1, 3)
    assert c.hourly_per_replica == pytest.approx(0.219 + 2 * 0.4025)
    assert c.monthly_max == pytest.approx(round(c.hourly_per_replica * 3 * HOURS_PER_MONTH, 2))


def test_the_bigquery_reader_builds_one_parameterised_query_and_reads_its_rows() -> None:
    seen: list[tuple[str, dict[str, Any]]] = []

    def runner(query: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        seen.append((query, params))
        if query.startswith("SELECT COUNT(*)"):
            return [{"n": 2}]
        return [
            {
                "request_id": "7",
                "ts": 1.5,
                "deployed_model_id": "11",
                "key": "c1",
                "instance": json.dumps({"customer_id": "c1", "x": 1}),
                "prediction": json.dumps([0.2, 0.8]),
            }
        ]

    reader = BigQueryLogReader("bq://proj-1.logs.churn_requests", "123", runner)
    assert reader.count_keyed("customer_id") == 2
    [row] = list(reader.read("customer_id", {"c1", "c2"}, since=10.0, until=20.0))
    assert (row.key, row.deployed_model_id, row.prediction) == ("c1", "11", [0.2, 0.8])
    query, params = seen[-1]
    assert "FROM `proj-1.logs.churn_requests`" in query
    assert "UNNEST(request_payload) AS instance WITH OFFSET AS i" in query
    assert "response_payload[SAFE_OFFSET(i)]" in query
    assert "JSON_VALUE(instance, @key_path) IN UNNEST(@keys)" in query
    assert params == {
        "endpoint_id": "123",
        "key_path": '$."customer_id"',
        "since": 10.0,
        "until": 20.0,
        "keys": ["c1", "c2"],
    }
    assert "@" not in query.replace("@endpoint_id", "").replace("@key_path", "").replace(
        "@since", ""
    ).replace("@until", "").replace("@keys", "")  # every value is a parameter


def test_prometheus_resource_lines() -> None:
    ep = "projects/p/locations/l/endpoints/e"
    text = (
        f'vertexdeploy_predict_cpu_seconds_total{{endpoint="{ep}",deployed_model_id="1"}} 0.25\n'
        f'vertexdeploy_predict_resident_bytes{{endpoint="{ep}",deployed_model_id="1"}} 1048576\n'
        'vertexdeploy_predict_resident_bytes{endpoint="other",deployed_model_id="2"} 5\n'
    )
    assert parse(text, ep) == {
        "1": {
            "vertexdeploy_predict_cpu_seconds_total": 0.25,
            "vertexdeploy_predict_resident_bytes": 1048576.0,
        }
    }
