"""Bounded load generators for bench/serving.py: wrk when installed, else an asyncio client.

Both run in a process of their own, with a fixed number of keep-alive connections, each with
one request in flight, for a fixed duration, and report req/s, p50/p99 latency, non-200
answers and their own CPU time (so the report can say how much of the machine the load
generator took from the server it measured).

    python bench/serving_load.py URL --body-file F [--header 'K: V'] -c 16 -d 10
        runs the asyncio client and prints one JSON object
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}
_LAT_LINE = re.compile(r"^\s*(50|75|90|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s|m)\s*$")


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (0.0 when empty)."""
    if not sorted_values:
        return 0.0
    return sorted_values[
        max(0, min(len(sorted_values), int(q * len(sorted_values) + 0.999999)) - 1)
    ]


# --------------------------------------------------------------------------------- wrk


def wrk_path() -> str | None:
    return shutil.which("wrk")


def parse_wrk(text: str) -> dict[str, Any]:
    """req/s, request count, non-2xx/3xx answers, socket errors and the latency
    distribution (`--latency`) from wrk's text output."""
    out: dict[str, Any] = {"errors": 0, "socket_errors": 0}
    for line in text.splitlines():
        if m := _LAT_LINE.match(line):
            out[f"p{m.group(1)}_ms"] = round(float(m.group(2)) * _UNITS_MS[m.group(3)], 3)
        elif m := re.match(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m)", line):
            out["requests"] = int(m.group(1))
            out["seconds"] = round(float(m.group(2)) * _UNITS_MS[m.group(3)] / 1000, 3)
        elif m := re.match(r"^Requests/sec:\s+([\d.]+)", line):
            out["rps"] = round(float(m.group(1)), 1)
        elif m := re.match(r"^\s*Non-2xx or 3xx responses:\s+(\d+)", line):
            out["errors"] = int(m.group(1))
        elif line.strip().startswith("Socket errors:"):
            out["socket_errors"] = sum(int(n) for n in re.findall(r"\d+", line))
    missing = [k for k in ("rps", "requests", "p50_ms", "p99_ms") if k not in out]
    if missing:
        raise ValueError(f"wrk output lacks {', '.join(missing)}:\n{text}")
    return out


def write_lua(path: Path, body: bytes, headers: dict[str, str]) -> Path:
    """A wrk script that POSTs `body` with `headers` on every request."""
    lines = ['wrk.method = "POST"', f"wrk.body = [==[{body.decode()}]==]"]
    lines += [f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items()]
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)  # it holds the bearer token
    return path


def run_wrk(url: str, script: Path, connections: int, seconds: float) -> dict[str, Any]:
    """`wrk -t2 -cN -dS -s script --latency` (one thread when N is 1), with wrk's CPU time."""
    threads, seconds = min(2, connections), max(1, round(seconds))  # wrk takes whole seconds
    cmd = [wrk_path() or "wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s"]
    cmd += ["--timeout", "10s", "-s", str(script), "--latency", url]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"wrk exited {done.returncode}: {done.stderr}{done.stdout}".strip())
    result = parse_wrk(done.stdout)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    result["loadgen_cpu_s"] = round(cpu, 3)
    result["loadgen_cpu_pct"] = round(100 * cpu / max(result["seconds"], 1e-9), 1)
    return result


# ----------------------------------------------------------------------- asyncio client


def _request_bytes(url: str, body: bytes, headers: dict[str, str]) -> tuple[str, int, bytes]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    head = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}", f"Content-Length: {len(body)}"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    return host, port, ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Read one response; its status and whether the server keeps the connection."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    version, status = lines[0].split(" ", 2)[:2]
    fields = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            fields[k.strip().lower()] = v.strip().lower()
    if "content-length" in fields:
        await reader.readexactly(int(fields["content-length"]))
    elif fields.get("transfer-encoding") == "chunked":
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    keep = fields.get("connection") != "close" and version == "HTTP/1.1"
    return int(status), keep


async def _connection(
    host: str, port: int, request: bytes, deadline: float, stats: dict[str, Any]
) -> list[float]:
    latencies: list[float] = []
    reader, writer = await asyncio.open_connection(host, port)
    while time.perf_counter() < deadline:
        t0 = time.perf_counter()
        writer.write(request)
        status, keep = await _read_response(reader)
        latencies.append(time.perf_counter() - t0)
        if status != 200:
            stats["errors"] += 1
        if not keep:
            writer.close()
            stats["reconnects"] += 1
            reader, writer = await asyncio.open_connection(host, port)
    writer.close()
    return latencies


async def _client(
    url: str, body: bytes, headers: dict[str, str], connections: int, seconds: float
) -> dict[str, Any]:
    host, port, request = _request_bytes(url, body, headers)
    stats: dict[str, Any] = {"errors": 0, "reconnects": 0}
    cpu0, t0 = time.process_time(), time.perf_counter()
    per_conn = await asyncio.gather(
        *(_connection(host, port, request, t0 + seconds, stats) for _ in range(connections))
    )
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    latencies = sorted(x for conn in per_conn for x in conn)
    return {
        "requests": len(latencies),
        "seconds": round(wall, 3),
        "rps": round(len(latencies) / wall, 1),
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 3),
        "p90_ms": round(percentile(latencies, 0.90) * 1000, 3),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 3),
        "max_ms": round(latencies[-1] * 1000, 3) if latencies else 0.0,
        **stats,
        "loadgen_cpu_s": round(cpu, 3),
        "loadgen_cpu_pct": round(100 * cpu / wall, 1),
    }


def run_client(
    url: str, body: bytes, headers: dict[str, str], connections: int, seconds: float
) -> dict[str, Any]:
    """The asyncio client in this process (the CLI below runs it in a process of its own)."""
    return asyncio.run(_client(url, body, headers, connections, seconds))


def run_asyncio(
    url: str, body_file: Path, headers: dict[str, str], connections: int, seconds: float
) -> dict[str, Any]:
    """The asyncio client in a separate process; its JSON result."""
    cmd = [sys.executable, __file__, url, "--body-file", str(body_file)]
    cmd += ["-c", str(connections), "-d", str(seconds)]
    for k, v in headers.items():
        cmd += ["--header", f"{k}: {v}"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"asyncio client exited {done.returncode}: {done.stderr.strip()}")
    result: dict[str, Any] = json.loads(done.stdout)
    # with interpreter start-up, which loadgen_cpu_s (the load loop alone) leaves out
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    result["loadgen_process_cpu_s"] = round(cpu, 3)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description="asyncio HTTP/1.1 load client (POST)")
    parser.add_argument("url")
    parser.add_argument("--body-file", type=Path, required=True)
    parser.add_argument("--header", action="append", default=[])
    parser.add_argument("-c", "--connections", type=int, default=16)
    parser.add_argument("-d", "--duration", type=float, default=10.0)
    args = parser.parse_args()
    headers = dict(h.split(": ", 1) for h in args.header)
    result = run_client(
        args.url, args.body_file.read_bytes(), headers, args.connections, args.duration
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
