"""The serving process's resident memory, read cheaply from /proc (Linux).

Each deployed model records how much the process's resident set grew while it loaded: an
approximation of the model's own memory (loads running at the same time, and memory the
allocator keeps, blur it), which `vertexdeploy monitor` reports beside its CPU time.
"""

from __future__ import annotations

import os
import resource

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def resident_bytes() -> int:
    """Resident set size of this process now, in bytes (peak RSS where /proc is absent)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024
