"""Quality data files: csv and jsonl read by name, gs:// read from the emulator's bucket
store, and problems named by file and row."""

from __future__ import annotations

from pathlib import Path

import pytest

from vertexdeploy.manifest.spec_quality import QualityDataSpec
from vertexdeploy.quality.data import DataError, load


def spec(uri: str, fmt: str = "csv") -> QualityDataSpec:
    return QualityDataSpec(uri=uri, format=fmt, target_field="y")  # type: ignore[arg-type]


def test_csv_features_in_file_order_and_integer_labels(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_text("b,y,a\n1,0,2.5\n3,1,\n")
    data = load(spec("d.csv"), tmp_path)
    assert data.features == ("b", "a")
    assert data.y.tolist() == [0, 1]
    assert data.x[0].tolist() == [1.0, 2.5]
    assert str(data.x[1][1]) == "nan"  # an empty cell is missing, for the NaN check


def test_jsonl_string_labels_and_a_bad_value_named_by_row(tmp_path: Path) -> None:
    (tmp_path / "d.jsonl").write_text('{"a": 1, "y": "cat"}\n{"a": "x", "y": "dog"}\n')
    with pytest.raises(DataError, match=r"row 2: feature 'a': 'x' is not a number"):
        load(spec("d.jsonl", "jsonl"), tmp_path)


def test_gs_uris_are_read_from_the_emulator_bucket_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = tmp_path / "emulator"
    (store / "buckets" / "eval-data").mkdir(parents=True)
    (store / "buckets" / "eval-data" / "e.csv").write_text("a,y\n1,0\n2,1\n")
    monkeypatch.setenv("VERTEXDEPLOY_EMULATOR_DIR", str(store))
    assert load(spec("gs://eval-data/e.csv"), tmp_path).rows == 2
    with pytest.raises(DataError, match="gs://eval-data/missing.csv: not in the local emulator"):
        load(spec("gs://eval-data/missing.csv"), tmp_path)


def test_a_missing_target_column_is_named(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match=r"no column 'y' \(target_field\); columns: a, b"):
        load(spec("d.csv"), tmp_path)
