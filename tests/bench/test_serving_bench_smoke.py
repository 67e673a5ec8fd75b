"""The serving bench's parsing and load client, against real local servers (no timing asserts).

bench/serving.py's numbers are only as good as its wrk-output parser and its asyncio client:
these prove both read what they claim to, on 127.0.0.1 servers on free ports.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import serving_load as load  # noqa: E402
from serving_apps import TrivialServer  # noqa: E402

WRK_OUTPUT = """\
Running 10s test @ http://127.0.0.1:41234/v1/projects/p/locations/r/endpoints/e:predict
  2 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     8.31ms    6.02ms  95.12ms   88.12%
    Req/Sec     1.03k   120.55     1.31k    71.00%
  Latency Distribution
     50%  650.00us
     75%    9.52ms
     90%   14.10ms
     99%    1.02s
  20517 requests in 10.01s, 3.78MB read
  Socket errors: connect 0, read 2, write 0, timeout 3
  Non-2xx or 3xx responses: 7
Requests/sec:   2049.66
Transfer/sec:    386.95KB
"""


def test_parse_wrk_reads_rate_count_errors_and_percentiles_in_every_unit() -> None:
    out = load.parse_wrk(WRK_OUTPUT)
    assert out["rps"] == 2049.7
    assert out["requests"] == 20517
    assert out["seconds"] == 10.01
    assert out["p50_ms"] == 0.65  # us
    assert out["p75_ms"] == 9.52
    assert out["p99_ms"] == 1020.0  # s
    assert out["errors"] == 7
    assert out["socket_errors"] == 5


def test_parse_wrk_refuses_output_without_the_latency_distribution() -> None:
    text = WRK_OUTPUT.split("  Latency Distribution")[0] + "Requests/sec:   10.00\n"
    with pytest.raises(ValueError, match="p50_ms"):
        load.parse_wrk(text)


def test_percentile_is_nearest_rank() -> None:
    values = [float(i) for i in range(1, 101)]
    assert load.percentile(values, 0.5) == 50.0
    assert load.percentile(values, 0.99) == 99.0
    assert load.percentile([], 0.5) == 0.0


def test_asyncio_client_keeps_connections_alive_and_counts_every_answer() -> None:
    with TrivialServer() as server:
        out = load.run_client(
            f"http://127.0.0.1:{server.port}/x", b"{}", {"Content-Type": "application/json"}, 4, 0.3
        )
    assert out["requests"] > 0
    assert out["errors"] == 0
    assert out["reconnects"] == 0
    assert 0 < out["p50_ms"] <= out["p99_ms"] <= out["max_ms"]
    assert out["loadgen_cpu_s"] > 0


class _Refuses(BaseHTTPRequestHandler):
    """HTTP/1.0, so every answer closes the connection; POST answers 503 with a body."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_error(503, "busy")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def refusing_server() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Refuses)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_asyncio_client_counts_non_200_and_reconnects_when_the_server_closes(
    refusing_server: int,
) -> None:
    out = load.run_client(f"http://127.0.0.1:{refusing_server}/p", b"{}", {}, 2, 0.2)
    assert out["requests"] > 0
    assert out["errors"] == out["requests"]
    assert out["reconnects"] == out["requests"]


def test_asyncio_client_in_its_own_process_reports_json(tmp_path: Path) -> None:
    body = tmp_path / "body.json"
    body.write_bytes(b'{"instances": [[1.0]]}')
    with TrivialServer() as server:
        out = load.run_asyncio(f"http://127.0.0.1:{server.port}/", body, {"X-A": "b"}, 2, 0.3)
    assert out["requests"] > 0 and out["errors"] == 0


@pytest.mark.skipif(load.wrk_path() is None, reason="wrk is not installed")
def test_wrk_against_a_real_server_parses(tmp_path: Path) -> None:
    script = load.write_lua(tmp_path / "post.lua", b'{"a": [1.5]}', {"X-Token": "t"})
    with TrivialServer() as server:
        out = load.run_wrk(f"http://127.0.0.1:{server.port}/", script, 2, 1)
    assert out["requests"] > 0 and out["errors"] == 0
    assert 0 < out["p50_ms"] <= out["p99_ms"]


def _point(rps: float, p50: float, p99: float, errors: int = 0) -> dict[str, float]:
    return {"rps": rps, "p50_ms": p50, "p99_ms": p99, "errors": errors}


def test_report_takes_medians_pairs_ratios_by_round_and_judges_the_issue_targets() -> None:
    from serving_report import summarize, targets

    def round_(emu_rps: float, flask_rps: float, raw_p50: float) -> dict[str, object]:
        return {
            "models": {
                "random_forest_100": {
                    "raw": {"p50_ms": raw_p50},
                    "load": {
                        "c16": {
                            "emulator": _point(emu_rps, 10.0, 35.0),
                            "flask": _point(flask_rps, 80.0, 300.0),
                        },
                        "c1": {"emulator": _point(250, 4.5, 6.0), "flask": _point(200, 5, 7)},
                    },
                }
            }
        }

    # paired ratios 10x, 13x, 20x: the median is 13x, not 1,500/100 or the mean
    # raw p50 3, 5, 6 ms: the c=1 bound is the lowest (3 + 1 ms), which 4.5 ms misses; the
    # median (5 + 1 ms) would have passed it
    summary = summarize([round_(1000, 100, 3.0), round_(1300, 100, 5.0), round_(3000, 150, 6.0)])
    rf = summary["random_forest_100"]["c16"]
    assert rf["ratio"] == 13.0
    assert rf["emulator_rps"] == 1300 and rf["emulator_rps_range"] == [1000, 3000]
    assert rf["raw_p50_ms"] == 5.0 and rf["raw_p50_min_ms"] == 3.0
    verdicts = {t["target"]: t["pass"] for t in targets(summary)}
    assert verdicts["RandomForest-100, c=16: req/s vs Flask"] is True
    assert verdicts["RandomForest-100, c=16: emulator p99"] is True
    assert (
        verdicts["RandomForest-100, c=1: emulator p50 vs raw predict p50 (lowest round) + 1 ms"]
        is False
    )
    assert verdicts["every request answered 200 (emulator/Flask)"] is True
