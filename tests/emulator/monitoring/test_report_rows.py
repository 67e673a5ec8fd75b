"""The monitor command's rows from ModelMonitoringStatsAnomalies dicts (plain values)."""

from __future__ import annotations

from vertexdeploy.monitoring_report import current_rows, feature_rows


def test_latest_window_wins_and_only_values_above_the_threshold_are_anomalies() -> None:
    stats = [
        {
            "objective": "RAW_FEATURE_DRIFT",
            "deployed_model_id": "7",
            "feature_stats": [
                {
                    "feature_display_name": "b",
                    "threshold": {"value": 0.3},
                    "prediction_stats": [
                        {
                            "distribution_deviation": 0.9,
                            "anomaly_detection_threshold": 0.3,
                            "end_time": "2024-01-01T00:00:00Z",
                        },
                        {
                            "distribution_deviation": 0.3,
                            "anomaly_detection_threshold": 0.3,
                            "end_time": "2024-01-01T00:00:00.500Z",
                        },
                    ],
                },
                {"feature_display_name": "empty", "prediction_stats": []},
            ],
        },
        {
            "objective": "RAW_FEATURE_SKEW",
            "deployed_model_id": "7",
            "feature_stats": [
                {
                    "feature_display_name": "a",
                    "threshold": {"value": 0.2},
                    "prediction_stats": [
                        {"distribution_deviation": 0.25, "end_time": "2024-01-01T00:00:00Z"}
                    ],
                },
            ],
        },
    ]
    rows = feature_rows(stats, {"7": "stable"})
    assert [(r.objective, r.feature) for r in rows] == [("skew", "a"), ("drift", "b")]
    skew, drift = rows
    assert skew.deployment == "stable" and skew.threshold == 0.2 and skew.anomaly
    assert drift.value == 0.3 and not drift.anomaly and drift.windows == 2


def _row(dm: str, feature: str, end: str) -> dict[str, object]:
    return {
        "objective": "RAW_FEATURE_DRIFT",
        "deployed_model_id": dm,
        "feature_stats": [
            {
                "feature_display_name": feature,
                "threshold": {"value": 0.3},
                "prediction_stats": [{"distribution_deviation": 0.1, "end_time": end}],
            }
        ],
    }


def test_the_table_shows_only_deployed_models_and_their_latest_window() -> None:
    stats = [
        _row("7", "a", "2024-01-01T01:00:00Z"),
        _row("7", "b", "2024-01-01T00:00:00.500Z"),  # a feature last seen in an older window
        _row("7", "c", "2024-01-01T01:00:00Z"),
        _row("9", "a", "2024-01-01T01:00:00Z"),  # undeployed by a promotion since
    ]
    rows = current_rows(feature_rows(stats, {"7": "canary", "9": "stable"}), {"7"})
    assert [(r.deployment, r.feature) for r in rows] == [("canary", "a"), ("canary", "c")]
