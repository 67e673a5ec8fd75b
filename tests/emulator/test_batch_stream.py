"""The streaming pieces of batch jobs: lazy chunked reading, row counts, sharded writes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from vertexdeploy.emulator.batch_stream import (
    Row,
    ShardWriter,
    chunks,
    clear_shards,
    count_rows,
    rows,
)
from vertexdeploy.emulator.buckets import BucketStore

OUT = "gs://data/out/prediction-m-2024_01_02T03_04_05_678Z"


def test_chunks_read_no_further_than_the_chunk_asked_for() -> None:
    pulled = []

    def source() -> Iterator[Row]:
        for i in range(10):
            pulled.append(i)
            yield Row(i)

    it = chunks(source(), 4)
    assert [r.instance for r in next(it)] == [0, 1, 2, 3]
    assert pulled == [0, 1, 2, 3]
    assert [len(c) for c in it] == [4, 2]


def test_rows_keep_the_input_text_and_count_matches(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text('[1, 2]\n\n  {"a":1}\n{bad\n')
    found = list(rows("jsonl", [(path, "gs://b/in.jsonl")], {}))
    assert [(r.instance, r.text) for r in found[:2]] == [([1, 2], "[1, 2]"), ({"a": 1}, '{"a":1}')]
    assert found[2].error and "line 4 is not JSON" in found[2].error
    assert found[0].ok_line(3) == '{"instance": [1, 2], "prediction": 3}'
    assert count_rows("jsonl", [(path, "")]) == 3
    csv_path = tmp_path / "in.csv"
    csv_path.write_text("a,b\n1,x\n\n2.5,y\n")
    assert [r.instance for r in rows("csv", [(csv_path, "")], {})] == [[1, "x"], [2.5, "y"]]
    assert count_rows("csv", [(csv_path, "")]) == 2


def test_shards_roll_over_and_a_rerun_clears_the_old_ones(tmp_path: Path) -> None:
    store = BucketStore(tmp_path)
    writer = ShardWriter(store, OUT, "predictions", shard_rows=2)
    for i in range(5):
        writer.add(str(i))
    writer.close()
    ShardWriter(store, OUT, "errors").close()  # nothing failed: still errors_00001.jsonl
    prefix = "out/prediction-m-2024_01_02T03_04_05_678Z/"
    names = [n.removeprefix(prefix) for n in store.names("data", prefix)]
    assert names == [
        "errors_00001.jsonl",
        "predictions_00001.jsonl",
        "predictions_00002.jsonl",
        "predictions_00003.jsonl",
    ]
    assert store.read_bytes(f"{OUT}/predictions_00003.jsonl") == b"4\n"
    assert store.read_bytes(f"{OUT}/errors_00001.jsonl") == b""
    store.write_bytes(f"{OUT}/notes.txt", b"kept")
    clear_shards(store, OUT)
    assert store.names("data", prefix) == [prefix + "notes.txt"]
