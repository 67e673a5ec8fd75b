"""A batch job's compute process: parse, shape, predict and encode the chunks it is sent.

``python -m vertexdeploy.emulator.batch_compute RFD WFD`` is started by the job's batch
process (batch_process.py), one per core it may use. It loads the model once, then takes
chunks over the pipe ``RFD`` and answers over ``WFD`` (pickled tuples, see ``_serve``):

    -> ("init", spec)            the model and job settings, first
    -> ("chunk", seq, payload)   ("jsonl", uri, first line number, raw bytes of the lines)
                                 or ("rows", [(instance, error or None)])  (csv, already read)
    <- ("ready", pid)            the model loaded
    <- ("part", seq, predictions, n, errors, first error)  the encoded jsonl lines of the
                                 model batches done in the last ``SEND_S`` (so the batch
                                 process only writes bytes, a few messages per chunk)
    <- ("end", seq)              the chunk is done
    <- ("fatal", status, message)  the job cannot go on (model does not load, input not UTF-8)

Results stream back while a chunk runs, so progress does not wait for a whole chunk.
A reader thread drains the input pipe while the model runs, so neither side can block the
other on a full pipe. The process ends when its input closes (the batch process finished,
or died: it never outlives it).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import pickle
import queue
import sys
import threading
import time
from collections.abc import Iterator
from multiprocessing.connection import Connection
from typing import Any

from vertexdeploy.emulator.batch_instances import NO_KEY, Shaped, active, output_line, shape
from vertexdeploy.emulator.serving.errors import (
    PredictionFailedError,
    PredictionInputError,
    ServingError,
)
from vertexdeploy.emulator.serving.predictors import Predictor, load_predictor

Part = tuple[str, int, bytes, int, list[str], str]
SEND_S = 0.02  # results of the batches done in this long go back as one message


class _Fatal(Exception):
    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def error_line(instance: Any, status: str) -> str:
    return json.dumps({"instance": instance, "status": status})


# --------------------------------------------------------------------------- encoding


def _encoded(predictions: Any) -> list[str]:
    """Each prediction as JSON text. A numpy array of ints or finite floats prints as JSON
    through ``repr`` of its list, without ``json.dumps`` per row."""
    kind = getattr(getattr(predictions, "dtype", None), "kind", "")
    if kind in ("i", "u"):
        return list(map(repr, predictions.tolist()))
    values = predictions.tolist() if kind else predictions
    out = []
    for value in values:
        cls = type(value)
        fast = cls is int or (cls is float and math.isfinite(value))
        out.append(repr(value) if fast else json.dumps(value))
    return out


class Rows:
    """One chunk's instances as parallel lists (no per-row objects): ``texts[i]`` is the
    instance's input JSON, reused in the output line when the model sees it unchanged;
    ``keys`` is set when ``instanceConfig`` has a key field."""

    __slots__ = ("instances", "texts", "keys")

    def __init__(self) -> None:
        self.instances: list[Any] = []
        self.texts: list[str | None] = []
        self.keys: list[Any] | None = None

    def ok_lines(self, start: int, encoded: list[str]) -> list[str]:
        lines = []
        for i, enc in enumerate(encoded, start):
            text = self.texts[i]
            if text is not None:
                lines.append(f'{{"instance": {text}, "prediction": {enc}}}')
            else:
                key = self.keys[i] if self.keys is not None else NO_KEY
                shaped = Shaped(self.instances[i], key)
                lines.append(json.dumps(output_line(shaped, json.loads(enc))))
        return lines


# --------------------------------------------------------------------------- parsing


def _parse_all(texts: list[str]) -> list[Any] | None:
    """Every line in one ``json.loads`` (a fraction of the per-line cost), or None when a
    line is bad: then each line is parsed alone. The counts match only if every line is
    exactly one JSON value, as a lone parse would read it."""
    try:
        values = json.loads(f"[{','.join(texts)}]")
    except ValueError:
        return None
    return values if isinstance(values, list) and len(values) == len(texts) else None


def parse_jsonl(uri: str, first: int, data: bytes, cfg: dict[str, Any]) -> tuple[Rows, list[str]]:
    """A chunk of jsonl lines -> (rows for the model, error lines in input order)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _Fatal("INVALID_ARGUMENT", f"Input {uri} is not UTF-8 text: {exc}") from exc
    texts = list(map(str.strip, text.removesuffix("\n").split("\n")))
    rows, errors = Rows(), list[str]()
    shaping = active(cfg)
    numbered: list[tuple[int, str]] | None = None
    if "" in texts:  # blank lines are skipped, and line numbers kept for error messages
        numbered = [(n, s) for n, s in enumerate(texts, first) if s]
        texts = [s for _, s in numbered]
    values = _parse_all(texts)
    if values is not None and not shaping:  # the common case: no per-row work at all
        rows.instances, rows.texts = values, list(texts)
        return rows, errors
    if numbered is None:
        numbered = list(enumerate(texts, first))
    if shaping:
        rows.keys = []
    loads = json.loads
    for i, (number, line) in enumerate(numbered):
        if values is not None:
            value = values[i]
        else:
            try:
                value = loads(line)
            except ValueError as exc:
                status = f"INVALID_ARGUMENT: {uri} line {number} is not JSON: {exc}"
                errors.append(error_line(line, status))
                continue
        if not shaping:
            rows.instances.append(value)
            rows.texts.append(line)
            continue
        try:
            shaped = shape(value, cfg)
        except ValueError as exc:
            errors.append(error_line(value, f"INVALID_ARGUMENT: {exc}"))
            continue
        rows.instances.append(shaped.instance)
        rows.texts.append(None)
        assert rows.keys is not None
        rows.keys.append(shaped.key)
    return rows, errors


def parse_rows(items: list[tuple[Any, str | None]]) -> tuple[Rows, list[str]]:
    """Rows already read by the batch process (csv): failed ones become error lines."""
    rows, errors = Rows(), []
    for instance, error in items:
        if error is None:
            rows.instances.append(instance)
            rows.texts.append(None)
        else:
            errors.append(error_line(instance, error))
    return rows, errors


# --------------------------------------------------------------------------- predicting


def predict(predictor: Predictor, batch: list[Any]) -> list[tuple[str | None, str | None]]:
    """(encoded prediction, None) or (None, status) per row; a refused batch is retried
    row by row so that only the bad rows fail."""
    try:
        fast = getattr(predictor, "predict_array", None)
        out = fast(batch) if fast is not None else predictor.predict(batch)
        return [(enc, None) for enc in _encoded(out)]
    except (PredictionInputError, PredictionFailedError) as exc:
        if len(batch) == 1:
            return [(None, f"{exc.grpc_status}: {exc}")]
    return [result for instance in batch for result in predict(predictor, [instance])]


def run_chunk(
    predictor: Predictor, seq: int, rows: Rows, errors: list[str], batch_size: int
) -> Iterator[Part]:
    """The chunk's ``part`` messages, one as each model batch is done (the first also
    carries the chunk's input errors)."""
    first = next((json.loads(e)["status"] for e in errors), "")
    total = len(rows.instances)
    for start in range(0, max(total, 1), batch_size):
        batch = rows.instances[start : start + batch_size]
        results = predict(predictor, batch) if batch else []
        good = [enc for enc, _ in results if enc is not None]
        if len(good) == len(results):
            ok = rows.ok_lines(start, good)
        else:
            ok = []
            for i, (enc, status) in enumerate(results, start):
                if enc is not None:
                    ok.extend(rows.ok_lines(i, [enc]))
                else:
                    assert status is not None
                    errors.append(error_line(rows.instances[i], status))
                    first = first or status
        data = "".join(f"{line}\n" for line in ok).encode()
        yield ("part", seq, data, len(ok), errors, first)
        errors, first = [], ""


def coalesced(parts: Iterator[Part], every_s: float = SEND_S) -> Iterator[Part]:
    """``parts`` merged into one message per ``every_s`` (and the chunk's last): fewer,
    larger messages for the batch process to read, in the same order."""
    pending: list[Part] = []
    due = time.monotonic() + every_s
    for part in parts:
        pending.append(part)
        if time.monotonic() >= due:
            yield _merge(pending)
            pending, due = [], time.monotonic() + every_s
    if pending:
        yield _merge(pending)


def _merge(parts: list[Part]) -> Part:
    if len(parts) == 1:
        return parts[0]
    errors = [line for part in parts for line in part[4]]
    first = next((part[5] for part in parts if part[5]), "")
    data = b"".join(part[2] for part in parts)
    return ("part", parts[0][1], data, sum(part[3] for part in parts), errors, first)


# --------------------------------------------------------------------------- the process


def _reader(conn: Connection, inbox: queue.SimpleQueue[Any]) -> None:
    try:
        while True:
            inbox.put(pickle.loads(conn.recv_bytes()))
    except (EOFError, OSError):
        inbox.put(None)


def _serve(rconn: Connection, wconn: Connection) -> None:
    inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
    threading.Thread(target=_reader, args=(rconn, inbox), daemon=True).start()

    def send(message: tuple[Any, ...]) -> None:
        wconn.send_bytes(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))

    message = inbox.get()
    if message is None:
        return
    spec = message[1]
    try:
        predictor = load_predictor(spec["artifact_dir"], spec["container_spec"])
    except ServingError as exc:
        send(("fatal", exc.grpc_status, str(exc)))
        return
    send(("ready", os.getpid()))
    cfg, batch_size = spec["instance_config"], spec["batch_size"]
    while (message := inbox.get()) is not None:
        _, seq, payload = message
        try:
            if payload[0] == "jsonl":
                rows, errors = parse_jsonl(payload[1], payload[2], payload[3], cfg)
            else:
                rows, errors = parse_rows(payload[1])
            for part in coalesced(run_chunk(predictor, seq, rows, errors, batch_size)):
                send(part)
        except _Fatal as exc:
            send(("fatal", exc.status, exc.message))
            return
        send(("end", seq))


def serve(rfd: int, wfd: int) -> None:
    """The batch process's own compute thread: the same loop over a pipe pair. A bug here
    is reported as a fatal message rather than a hang."""
    rconn = Connection(rfd, writable=False)
    wconn = Connection(wfd, readable=False)
    try:
        _serve(rconn, wconn)
    except (BrokenPipeError, EOFError, OSError):
        pass
    except Exception as exc:
        with contextlib.suppress(OSError):
            message = f"The batch job's compute thread failed: {type(exc).__name__}: {exc}"
            wconn.send_bytes(pickle.dumps(("fatal", "INTERNAL", message)))
    finally:
        rconn.close()
        wconn.close()


def main(argv: list[str]) -> None:
    os.dup2(2, 1)  # a model that prints must not write into anyone's protocol
    rconn = Connection(int(argv[0]), writable=False)
    wconn = Connection(int(argv[1]), readable=False)
    with contextlib.suppress(BrokenPipeError, EOFError):  # the batch process is gone
        _serve(rconn, wconn)
    sys.stderr.flush()
    os._exit(0)  # every answer is sent; skip the seconds a framework's teardown can take


if __name__ == "__main__":
    main(sys.argv[1:])
