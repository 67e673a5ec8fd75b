"""Developer sessions: `nox -s tests lint typecheck demo bench`."""

from __future__ import annotations

import nox

nox.options.sessions = ["lint", "typecheck", "tests"]
nox.options.reuse_existing_virtualenvs = True


@nox.session
def tests(session: nox.Session) -> None:
    session.install("-e", ".[dev]")
    session.run("pytest", "-q", "-n", "2", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff>=0.17,<0.18")
    paths = ["vertexdeploy", "tests", "bench", "examples", "noxfile.py", "run.py"]
    session.run("ruff", "check", *paths)
    session.run("ruff", "format", "--check", *paths)


@nox.session
def typecheck(session: nox.Session) -> None:
    session.install("-e", ".[dev]")
    session.run("mypy")


@nox.session
def demo(session: nox.Session) -> None:
    session.install("-e", ".[dev]")
    session.run("python", "examples/demo.py")


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks; each writes its results under bench/results/."""
    session.install("-e", ".[dev]")
    for script in session.posargs or [
        "cli_startup",
        "emulator",
        "apply_fanout",
        "serving",
        "plan_scale",
        "batch",
    ]:
        session.run("python", f"bench/{script}.py")


@nox.session
def bench_serving(session: nox.Session) -> None:
    """Serving benchmark alone (about 5 min); `-- --quick` for a smoke run.

    Writes bench/results/serving.{json,md}; --quick (2 s per point, 1 round) writes to a
    temp dir instead."""
    session.install("-e", ".[dev]")
    session.run("python", "bench/serving.py", *session.posargs)
