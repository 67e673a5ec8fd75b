"""Streaming input and sharded output for batch prediction jobs (batch_runner.py runs them).

Rows are read lazily and handed out in chunks of ``CHUNK_ROWS``, so a job holds one chunk
of instances and one output shard in memory however large its input is. Output files are
sharded as Vertex shards them: ``predictions_00001.jsonl``, ``predictions_00002.jsonl`` ...
and ``errors_0000N.jsonl``, a new file every ``SHARD_ROWS`` lines. Each shard is written
whole through the bucket store (a temp file moved into place), so a reader never sees a
half-written file; a job stopped midway leaves the shards it finished.
"""

from __future__ import annotations

import csv
import itertools
import json
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vertexdeploy.emulator.batch_instances import NO_KEY, Shaped, active, output_line, shape
from vertexdeploy.emulator.buckets import BucketStore, split_gs_uri

CHUNK_ROWS = 8192
SHARD_ROWS = 100_000
_NUMBER = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$")
_INTEGER = re.compile(r"^[+-]?\d+$")
_SHARD = re.compile(r"^(?:predictions|errors)_\d{5,}\.jsonl$")


class InputError(Exception):
    """An input file cannot be read at all (not UTF-8, not csv): the job fails."""


@dataclass(slots=True)
class Row:
    """One input row. ``text`` is its JSON as read, reused verbatim in the output line
    when the model sees the instance unchanged (saves re-encoding every instance)."""

    instance: Any
    text: str | None = None
    error: str | None = None  # set when the row could not be read or shaped
    key: Any = NO_KEY  # instanceConfig.keyField's value, written beside the prediction

    def ok_line(self, prediction: Any) -> str:
        if self.text is not None:
            kind = type(prediction)  # ints and finite floats print as JSON without json.dumps
            fast = kind is int or (kind is float and math.isfinite(prediction))
            encoded = repr(prediction) if fast else json.dumps(prediction)
            return f'{{"instance": {self.text}, "prediction": {encoded}}}'
        return json.dumps(output_line(Shaped(self.instance, self.key), prediction))


def error_line(instance: Any, status: str) -> str:
    return json.dumps({"instance": instance, "status": status})


# --------------------------------------------------------------------------- reading


def rows(fmt: str, paths: Iterable[tuple[Path, str]], cfg: dict[str, Any]) -> Iterator[Row]:
    """Every row of every input file, in order, shaped by ``instanceConfig`` (jsonl only)."""
    shaping = fmt == "jsonl" and active(cfg)
    for path, uri in paths:
        try:
            if fmt == "jsonl":
                for row in _read_jsonl(path, uri):
                    yield _shaped(row, cfg) if shaping else row
            else:
                yield from _read_csv(path, uri)
        except UnicodeDecodeError as exc:
            raise InputError(f"Input {uri} is not UTF-8 text: {exc}") from exc
        except csv.Error as exc:
            raise InputError(f"Input {uri} is not valid csv: {exc}") from exc


def chunks(source: Iterator[Row], size: int = 0) -> Iterator[list[Row]]:
    """``source`` in lists of at most ``size`` rows (``CHUNK_ROWS`` by default)."""
    size = size or CHUNK_ROWS
    while chunk := list(itertools.islice(source, size)):
        yield chunk


def count_rows(fmt: str, paths: Iterable[tuple[Path, str]]) -> int:
    """The rows a job expects (non-blank lines; a csv header each file), for
    ``incompleteCount`` while it runs. A quick byte scan; quoted csv newlines overcount."""
    total = 0
    for path, _ in paths:
        with path.open("rb") as fh:
            lines = sum(1 for line in fh if not line.isspace())
        total += max(0, lines - 1) if fmt == "csv" else lines
    return total


def _read_jsonl(path: Path, uri: str) -> Iterator[Row]:
    loads = json.loads
    with path.open(encoding="utf-8-sig") as fh:
        for number, line in enumerate(fh, 1):
            text = line.strip()
            if not text:
                continue
            try:
                yield Row(loads(text), text)
            except ValueError as exc:
                yield Row(text, None, f"INVALID_ARGUMENT: {uri} line {number} is not JSON: {exc}")


def _scalar(text: str) -> Any:
    """A csv cell: an int or a float when it reads as a number, else the text."""
    value = text.strip()
    if _INTEGER.match(value):
        return int(value)
    if _NUMBER.match(value):
        return float(value)
    return text


def _read_csv(path: Path, uri: str) -> Iterator[Row]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            if header is not None and len(row) != len(header):
                yield Row(
                    row,
                    None,
                    f"INVALID_ARGUMENT: {uri} line {reader.line_num} has {len(row)} values, "
                    f"the header has {len(header)}",
                )
                continue
            yield Row([_scalar(cell) for cell in row])


def _shaped(row: Row, cfg: dict[str, Any]) -> Row:
    """The row as instanceConfig shapes it (batch_instances.py); a row it cannot shape fails."""
    if row.error is not None:
        return row
    try:
        shaped = shape(row.instance, cfg)
    except ValueError as exc:
        return Row(row.instance, None, f"INVALID_ARGUMENT: {exc}")
    return Row(shaped.instance, None, key=shaped.key)


# --------------------------------------------------------------------------- writing


class ShardWriter:
    """``<out_dir>/<stem>_0000N.jsonl``, a new file each ``shard_rows`` lines. At least
    ``<stem>_00001.jsonl`` is written, empty if nothing came (Vertex writes it too).
    Lines come one by one (``add``) or as encoded blocks (``add_block``: the batch
    process's workers send a batch's lines as one ``bytes``, so no per-line work here)."""

    def __init__(self, buckets: BucketStore, out_dir: str, stem: str, shard_rows: int = 0) -> None:
        self.buckets = buckets
        self.out_dir = out_dir
        self.stem = stem
        self.shard_rows = shard_rows or SHARD_ROWS
        self.shards = 0
        self._parts: list[bytes] = []
        self._count = 0

    def add(self, line: str) -> None:
        self.add_block(f"{line}\n".encode(), 1)

    def add_block(self, data: bytes, lines: int) -> None:
        """``lines`` newline-terminated lines, in order; split where a shard fills."""
        while lines:
            room = self.shard_rows - self._count
            if lines < room:
                self._parts.append(data)
                self._count += lines
                return
            head = data.split(b"\n", room)  # the first ``room`` lines, then the rest
            self._parts.append(b"\n".join(head[:room]) + b"\n")
            self._count += room
            self._flush()
            data, lines = head[room] if len(head) > room else b"", lines - room

    def close(self) -> None:
        """Write what is left (or the empty first shard)."""
        if self._count or not self.shards:
            self._flush()

    def _flush(self) -> None:
        self.shards += 1
        data = b"".join(self._parts)
        self._parts, self._count = [], 0
        self.buckets.write_bytes(f"{self.out_dir}/{self.stem}_{self.shards:05d}.jsonl", data)


def clear_shards(buckets: BucketStore, out_dir: str) -> None:
    """Remove the shards of an earlier run of the same job (a re-run after a restart), so
    that a shorter re-run leaves no stale higher-numbered file behind."""
    bucket, prefix = split_gs_uri(out_dir)
    if not buckets.exists(bucket):
        return
    for name in buckets.names(bucket, prefix + "/"):
        if _SHARD.match(name[len(prefix) + 1 :]):
            buckets.delete(bucket, name)
