"""Developer and CI entry points.

nox -s tests        the whole test suite (what .ci/run runs)
nox -s conformance  every recorded TF fixture on every installed backend, as a table
nox -s record       re-record the fixtures with tensorflow-cpu==2.21.0
nox -s lint         ruff
nox -s bench        benchmark vs TF 2.21 CPU (bench/bench.py; writes bench/results.json)
"""

from __future__ import annotations

import nox

nox.options.sessions = ["lint", "tests"]
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True

PYTHON = "3.11"
TEST_REQUIREMENTS = "requirements/test.txt"


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Run the test suite on every backend that installs here (CuPy skips without a GPU)."""
    session.install("-r", TEST_REQUIREMENTS)
    session.install("-e", ".")
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session(python=PYTHON)
def conformance(session: nox.Session) -> None:
    """Check every recorded TF fixture on every installed backend and path; print a table."""
    session.install("-r", TEST_REQUIREMENTS)
    session.install(".")
    # Run from outside the source tree: the fixtures must come with the installed package.
    session.chdir(session.create_tmp())
    session.run("python", "-m", "xcrop.conformance", *session.posargs)


@nox.session(python=PYTHON)
def record(session: nox.Session) -> None:
    """Re-record conformance/fixtures with TensorFlow 2.21 CPU (deterministic output)."""
    session.install("-r", "requirements/record.txt")
    session.install("-e", ".")
    session.run("python", "conformance/record.py", *session.posargs)
    session.run("python", "conformance/record_gradients.py", *session.posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    session.install("ruff==0.17.6")
    session.run("ruff", "check", ".")


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Time TF 2.21 CPU and every xcrop backend/path side by side (a benchmark, not a test)."""
    session.install("-r", TEST_REQUIREMENTS)
    session.install("tensorflow-cpu==2.21.0")
    session.install("-e", ".[numba]")
    session.run("python", "bench/bench.py", *session.posargs)
