"""Developer and CI entry points.

nox -s tests        the whole test suite (what .ci/run runs)
nox -s conformance  every recorded TF fixture, each backend's default path (-- --path all: all)
nox -s record       re-record the fixtures with tensorflow-cpu==2.21.0
nox -s lint         ruff
nox -s bench        benchmark vs TF 2.21 CPU (bench/bench.py; writes bench/results.json)
nox -s bench_peers  the same plus torchvision roi_align (torch 2.14.1 + torchvision 0.29.1)
nox -s bench_dask   xcrop on dask: LocalCluster with 1 and 2 workers (bench/bench_dask.py)
nox -s fuzz         differential fuzzing vs live TF 2.21 (fuzz/fuzz_tf.py; -- --cases N --seed S)
nox -s docs         build the docs, strict (figures and tables regenerated first)
nox -s peers        certify torchvision roi_align and kornia crop_and_resize against the fixtures
nox -s gpu          on a CUDA machine: conformance on CuPy and torch CUDA (eager, compiled,
                    exported), CUDA vs CPU kernels bitwise, timings vs roi_align; one JSON
                    (bench/gpu_check.py; exits 0 with a message where there is no GPU)
"""

from __future__ import annotations

from pathlib import Path

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
    """Every recorded TF fixture on each installed backend's default path (about a minute;
    `-- --path all`: the fast, fast_array and generic matrix, about 2 hours); a table."""
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
    session.run("python", "tools/record/record.py", *session.posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    session.install("ruff==0.17.6")
    session.run("ruff", "check", ".")


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Time TF 2.21 CPU and every xcrop backend/path side by side (a benchmark, not a test)."""
    session.install("-r", TEST_REQUIREMENTS)
    # kornia (a peer) accepts the pinned torch 2.13.0; matplotlib draws bench/results.png.
    session.install("tensorflow-cpu==2.21.0", "kornia==0.9.0", "kornia-rs==0.2.0",
                    "matplotlib==3.11.2")
    session.install("-e", ".[numba]")
    session.run("python", "bench/bench.py", *session.posargs)


@nox.session(python=PYTHON)
def bench_peers(session: nox.Session) -> None:
    """The benchmark with torchvision.ops.roi_align too: its own venv, because torchvision
    0.29.1 needs torch 2.14.1 (requirements/peers.txt; a ~5.5 GB CUDA build on x86_64, taken
    from the machine's disk where it lies there), while the test venv keeps torch 2.13.0.
    The xcrop torch rows of this session therefore run on torch 2.14.1."""
    session.install("-r", "requirements/peers.txt")
    session.install("tensorflow-cpu==2.21.0", "matplotlib==3.11.2")
    session.install("-e", ".[numba]")
    session.run("python", "bench/bench.py", "--json", "bench/results_peers.json",
                "--plot", "bench/results_peers.png", *session.posargs)


@nox.session(python=PYTHON)
def fuzz(session: nox.Session) -> None:
    """Hypothesis-driven differential fuzzing of every op, backend and path against live
    TF 2.21 CPU; exits non-zero on any mismatch (failures land in fuzz/failures/)."""
    session.install("-r", TEST_REQUIREMENTS)
    session.install("tensorflow-cpu==2.21.0")
    # [numba]: the compiled kernels are one of the paths the fuzzer compares.
    session.install("-e", ".[numba]")
    session.run("python", "fuzz/fuzz_tf.py", *session.posargs)


@nox.session(python=PYTHON)
def docs(session: nox.Session) -> None:
    """Build the docs in strict mode (warnings are errors) into docs/_build/html.

    Runs the docstring examples of the public modules (doctest) and the examples of the
    pages (their printed output must match the page), then regenerates the figures and
    the tables (from the code's declarations) and builds.
    """
    session.install("-r", "requirements/docs.txt")
    session.install("-e", ".[numba]")
    # The docstring examples of every module that has them (found by the test itself).
    session.run("python", "-m", "pytest", "-q", "-p", "no:cacheprovider",
                "tests/test_docstrings.py")
    session.run("python", "docs/_tools/check_examples.py")  # the pages' examples and outputs
    session.run("python", "docs/_tools/make_figures.py")
    session.run("python", "docs/_tools/make_tables.py")
    session.run("python", "-m", "sphinx", "-W", "--keep-going", "-b", "html", "docs",
                "docs/_build/html", *session.posargs)


PEER_IMPLS = (  # functions of xcrop.conformance.peers
    "torchvision_roi_align",
    "torchvision_roi_align_legacy",
    "torchvision_roi_align_pixel",
    "kornia_crop_and_resize",
)


@nox.session(python=PYTHON)
def peers(session: nox.Session) -> None:
    """Run the TF crop fixtures through torchvision's roi_align and kornia's crop_and_resize.

    Not a pass/fail gate (peers are expected to deviate): writes one JSON report per peer
    to ``peers-reports/`` in the source tree and prints where each deviates from TF.
    """
    session.install("-r", "requirements/peers.txt")
    session.install(".")
    out = Path(session.invoked_from) / "peers-reports"
    out.mkdir(exist_ok=True)
    session.chdir(session.create_tmp())
    for name in PEER_IMPLS:
        session.run("xcrop", "conformance", "--impl", f"xcrop.conformance.peers:{name}",
                    "--impl-backend", "torch", "--json", str(out / f"{name}.json"),
                    "--max-failures", "0", *session.posargs, success_codes=[0, 1])


@nox.session(python=PYTHON)
def bench_dask(session: nox.Session) -> None:
    """Crop throughput of xcrop on dask: a LocalCluster with 1 and 2 workers against the
    in-process NumPy call (bench/bench_dask.py; writes bench/results_dask.json)."""
    session.install("-r", TEST_REQUIREMENTS)
    session.install("-e", ".[dask]")
    session.run("python", "bench/bench_dask.py", *session.posargs)


@nox.session(python=PYTHON)
def gpu(session: nox.Session) -> None:
    """The GPU check (bench/gpu_check.py): torch 2.14.1 + torchvision 0.29.1 (the CUDA
    builds of requirements/peers.txt) and CuPy for CUDA 12; writes bench/results_gpu.json.
    Not yet run on a GPU (no GPU where it was written)."""
    session.install("-r", "requirements/peers.txt")
    session.install("cupy-cuda12x==14.2.0")
    session.install("-e", ".[numba]")
    session.run("python", "bench/gpu_check.py", *session.posargs)
