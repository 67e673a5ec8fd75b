"""The project's exceptions: one root, a small tree, each branch with its exit code.

VertexDeployError                 exit 1
├── ManifestError                 exit 2  (a bad manifest: carries every problem found)
├── UsageError                    exit 2  (bad flags or arguments)
├── BackendError                  exit 1  (the API said no; carries address + server message)
│   ├── TransientBackendError     exit 1  (429/5xx/UNAVAILABLE/DEADLINE_EXCEEDED: retryable)
│   └── BackendUnreachable        exit 1  (no answer for the whole reachability budget)
├── PlanStaleError                exit 1  (a saved plan whose live state has moved)
├── PlanGraphError                exit 1  (a plan whose dependencies form a cycle)
├── EmulatorError                 exit 1  (the local emulator could not start or be found)
├── CredentialsError              exit 1  (no usable Google credentials: says how to log in)
├── LockHeld                      exit 1  (another run holds the stack lock; names the holder)
├── ApplyInterrupted              exit 130 (Ctrl-C: operations go on running on the server)
├── RolloutAborted                exit 4  (a promotion gate failed and traffic was rolled back)
└── QualityCheckFailed            exit 6  (a version failed its quality checks: not uploaded)
"""

from __future__ import annotations

from dataclasses import dataclass


class ExitCode:
    """Stable, documented process exit codes."""

    OK = 0
    ERROR = 1
    USAGE = 2
    CHANGES_PRESENT = 3
    ROLLED_BACK = 4
    ANOMALIES = 5  # monitor --fail-on-anomaly
    QUALITY_FAILED = 6  # check, or plan/apply of a version that fails its quality checks


class VertexDeployError(Exception):
    """Root of every error the project raises on purpose."""

    exit_code: int = ExitCode.ERROR


@dataclass(frozen=True)
class Problem:
    """One problem in a manifest, located at file:line:col and a dotted field path."""

    file: str
    line: int
    col: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.col}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class ManifestError(VertexDeployError):
    """A manifest that cannot be used; lists every problem, not just the first."""

    exit_code = ExitCode.USAGE

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems, key=lambda p: (p.file, p.line, p.col, p.path))
        super().__init__("\n".join(str(p) for p in self.problems))


class UsageError(VertexDeployError):
    exit_code = ExitCode.USAGE


class BackendError(VertexDeployError):
    """An API call failed for good; names the resource and quotes the server."""

    def __init__(self, message: str, *, address: str = "", code: int | None = None) -> None:
        self.address = address
        self.code = code
        prefix = f"{address}: " if address else ""
        super().__init__(f"{prefix}{message}")


class TransientBackendError(BackendError):
    """An API call failed in a way that may succeed when retried."""


class BackendUnreachable(BackendError):
    """The API gave no answer at all for the whole reachability budget: retrying is over."""


class PlanStaleError(VertexDeployError):
    pass


class PlanGraphError(VertexDeployError):
    """A plan whose dependencies cannot be walked (a cycle, an address twice): a planner
    bug or a hand-edited plan.json. Raised before any change runs."""


class EmulatorError(VertexDeployError):
    pass


class CredentialsError(VertexDeployError):
    """Application Default Credentials missing, unreadable, expired or revoked; the message
    (at most three lines) names what is wrong and how to log in again."""


class LockHeld(VertexDeployError):
    """Another run holds the stack lock; ``details`` names it (host, pid, command, since)."""

    details_key = "lock"  # under this key in `-o json` error output

    def __init__(self, message: str, details: dict[str, object]) -> None:
        super().__init__(message)
        self.details = details


class ApplyInterrupted(VertexDeployError):
    """Ctrl-C during apply: waits stopped, operations left running on the server."""

    exit_code = 130


class RolloutAborted(VertexDeployError):
    exit_code = ExitCode.ROLLED_BACK


class QualityCheckFailed(VertexDeployError):
    """A version to upload failed its quality checks (``models[].quality``); nothing was
    written. The message names each failing version and check; ``details`` holds the
    failing rows (model, version, check, status, value, threshold, detail) for `-o json`."""

    exit_code = ExitCode.QUALITY_FAILED
    details_key = "checks"

    def __init__(self, message: str, details: list[dict[str, object]] | None = None) -> None:
        super().__init__(message)
        self.details = details
