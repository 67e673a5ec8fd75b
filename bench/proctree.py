"""A process and all its descendants, sampled from /proc: memory and CPU of the whole tree.

The emulator runs batch jobs (and may serve) in child processes, so its own VmRSS says
little; ``TreeSampler`` sums VmRSS over the tree every ``interval`` seconds (the peak of
that sum is the tree's high-water mark, to the sampling interval; the tree itself is
re-read every 0.1 s, as walking /proc costs more than the samples) and keeps each
process's VmHWM as last seen (their sum is an upper bound: the peaks need not coincide).
A VmRSS sum counts a shared library once per process that maps it; the PSS sum (every
10th sample) splits shared pages between their processes: the memory the tree really holds.
It also sums the CPU seconds of processes whose command line contains ``cpu_match``.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds) of a live process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()
    if fields[0] == "Z":
        return None
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICK


def descendants(root: int) -> list[int]:
    """``root`` and every live process below it."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _stat(int(entry))
            if stat is not None:
                children.setdefault(stat[0], []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def rss_kb(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * _PAGE // 1024
    except (OSError, IndexError, ValueError):
        return 0


def hwm_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def pss_kb(pid: int) -> int:
    """Proportional set size: shared pages split between the processes sharing them."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


class TreeSampler(threading.Thread):
    """Samples the tree below ``root`` until ``stop()``."""

    def __init__(
        self, root: int, cpu_match: str = "", interval: float = 0.02, rescan_s: float = 0.1
    ) -> None:
        super().__init__(daemon=True)
        self.root, self.cpu_match, self.interval = root, cpu_match, interval
        self.peak_sum_kb = 0
        self.peak_pss_sum_kb = 0
        self._samples = 0
        self._pids: list[int] = []
        self.rescan_every = max(1, round(rescan_s / interval))  # look for new processes
        self.hwm: dict[int, int] = {}
        self.peak_rss: dict[int, int] = {}
        self.cpu: dict[int, tuple[float, float]] = {}  # pid -> (first seen, last seen)
        self.max_processes = 0
        self._done = threading.Event()
        self._names: dict[int, str] = {}

    def run(self) -> None:
        while not self._done.is_set():
            self.sample()
            time.sleep(self.interval)

    def sample(self) -> None:
        if self._samples % self.rescan_every == 0 or not self._pids:
            self._pids = descendants(self.root)  # the walk over /proc is the costly part
        pids = [p for p in self._pids if _stat(p) is not None]
        self.max_processes = max(self.max_processes, len(pids))
        rss = {p: rss_kb(p) for p in pids}
        self.peak_sum_kb = max(self.peak_sum_kb, sum(rss.values()))
        self._samples += 1
        if self._samples % 10 == 1:  # smaps_rollup costs more to read: every 10th sample
            self.peak_pss_sum_kb = max(self.peak_pss_sum_kb, sum(pss_kb(p) for p in pids))
        for pid in pids:
            self.peak_rss[pid] = max(self.peak_rss.get(pid, 0), rss[pid])
            self.hwm[pid] = max(self.hwm.get(pid, 0), hwm_kb(pid))
            if self.cpu_match:
                name = self._names.setdefault(pid, cmdline(pid))
                stat = _stat(pid) if self.cpu_match in name else None
                if stat is not None:
                    first = self.cpu.get(pid, (stat[1], stat[1]))[0]
                    self.cpu[pid] = (first, stat[1])

    def stop(self) -> None:
        self._done.set()
        self.join()

    def cpu_seconds(self) -> float:
        """CPU used by matching processes between their first and last sample."""
        return sum(last - first for first, last in self.cpu.values())

    def upper_bound_over_kb(self, idle: dict[int, int]) -> int:
        """Each new process's VmHWM plus each idle one's growth: what the tree could have
        held at once at worst (the sampled sum is what it did hold, to the interval)."""
        new = sum(v for pid, v in self.hwm.items() if pid not in idle)
        grown = sum(max(0, self.peak_rss.get(pid, 0) - kb) for pid, kb in idle.items())
        return new + grown


def snapshot(root: int) -> dict[int, int]:
    """VmRSS (kB) of each process of the tree now."""
    return {p: rss_kb(p) for p in descendants(root)}


def pss_sum_kb(root: int) -> int:
    return sum(pss_kb(p) for p in descendants(root))
