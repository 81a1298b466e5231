"""The conformance command as users run it: a subprocess, its table, exit code and reports.

Small suites and the NumPy backend only, with numba switched off (its kernels take about
a minute to compile on a fresh machine), so the "fast" path is the array-op fast path
whether or not numba is installed: the full run is `nox -s conformance`. Every expected
value is
TF's (the fixtures); the injected failures are xcrop's own output nudged by one ulp.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

SUITE = "crop_v1"  # 9 cases: 7 exact, 2 TF errors (one of them TF1's keyword clash)
PATHS_RUN = ["generic", "fast"]


def _run(*args: str, cwd: Path, extra_path: Path | None = None,
         numba: bool = False) -> subprocess.CompletedProcess:
    env = dict(os.environ, XCROP_NO_NUMBA="0" if numba else "1")
    if extra_path is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(extra_path),
                                                          env.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.fixture(scope="module")
def xcrop_run(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("conf")
    proc = _run("-m", "xcrop.conformance", "--suite", SUITE, "--backend", "numpy",
                "--backend", "cupy", "--path", "generic", "--path", "fast",
                "--json", str(tmp / "r.json"), "--junit", str(tmp / "r.xml"), cwd=tmp)
    return proc, tmp


def test_xcrop_run_passes_and_prints_table(xcrop_run) -> None:
    proc, _ = xcrop_run
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "TensorFlow 2.21.0" in proc.stdout
    lines = [line.split() for line in proc.stdout.splitlines()]
    rows = {(r[0], r[1], r[2]): r[3:] for r in lines if len(r) >= 9 and r[0] == "numpy"}
    # cases, passed, bit-exact, skipped, failed, worst ulp
    assert rows[("numpy", "generic", "crop")][:6] == ["9", "9", "9", "0", "0", "0"]
    assert rows[("numpy", "fast", "crop")][:6] == ["9", "9", "9", "0", "0", "0"]
    # Progress goes to stderr, starting at once, then one line per backend/path and suite,
    # with counts and time (plain lines: stderr is not a terminal here).
    first = proc.stderr.splitlines()[0]
    assert first == "python -m xcrop.conformance: loading the recorded TF fixtures…"
    assert f"numpy/generic {SUITE}: 9 cases (9 exact)" in proc.stderr
    assert "\r" not in proc.stderr


def test_default_run_is_each_backends_default_path(tmp_path: Path) -> None:
    # No --path: every fixture once per backend, on the path dispatch picks (here numba is
    # off, so the NumPy fast path, and generic for the image gradient, which has none).
    proc = _run("-m", "xcrop.conformance", "--suite", SUITE, "--suite", "grad_errors",
                "--backend", "numpy", "--json", str(tmp_path / "d.json"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = json.loads((tmp_path / "d.json").read_text())["results"]
    assert {r["path"] for r in results} == {"default"}
    assert len(results) == 9 + 18 and {r["status"] for r in results} == {"exact"}


def test_path_all_leaves_out_what_cannot_exist(tmp_path: Path) -> None:
    # "fast_array" (numba off) is run for crops and glimpses only (NUMBA_OPERATIONS): the
    # other combinations are not run (a note says why), never "skipped".
    proc = _run("-m", "xcrop.conformance", "--suite", "grad_errors", "--backend", "numpy",
                "--path", "all", "--json", str(tmp_path / "a.json"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = json.loads((tmp_path / "a.json").read_text())["results"]
    by_path = {p: [r for r in results if r["path"] == p] for p in ("fast", "generic")}
    assert len(by_path["generic"]) == 18
    assert {r["op"] for r in by_path["fast"]} == {"crop_and_resize_grad_boxes",
                                                  "crop_and_resize_grad_image"}
    assert not [r for r in results if r["path"] == "fast_array"]
    assert not [r for r in results if r["status"] == "skipped"]


def test_jit_modes(tmp_path: Path) -> None:
    # The fixtures under jax.jit, x64 off and on, on the FFI path (numba kernels as XLA
    # custom calls) and the generic path; crop_v1-008's bad box index must surface as
    # xcrop's BoxIndexError when the program runs, on both paths.
    pytest.importorskip("jax")
    pytest.importorskip("numba")
    proc = _run("-m", "xcrop.conformance", "--suite", SUITE, "--backend", "jax_jit",
                "--backend", "jax_x64_jit", "--path", "fast", "--path", "generic",
                "--json", str(tmp_path / "j.json"), cwd=tmp_path, numba=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = json.loads((tmp_path / "j.json").read_text())["results"]
    runs = {(r["backend"], r["path"]) for r in results}
    assert runs == {(b, p) for b in ("jax_jit", "jax_x64_jit") for p in ("fast", "generic")}
    assert len(results) == 4 * 9 and {r["status"] for r in results} == {"exact"}


def test_xcrop_run_json_report(xcrop_run) -> None:
    _, tmp = xcrop_run
    report = json.loads((tmp / "r.json").read_text())
    results = report["results"]
    numpy_results = [r for r in results if r["backend"] == "numpy"]
    assert len(numpy_results) == 9 * len(PATHS_RUN)
    assert {r["status"] for r in numpy_results} == {"exact"}
    cupy = [r for r in results if r["backend"] == "cupy"]
    assert cupy and all(r["status"] == "skipped" and r["message"] for r in cupy)
    assert "TensorFlow 2.21.0" in report["header"]


def test_xcrop_run_junit_report(xcrop_run) -> None:
    _, tmp = xcrop_run
    root = ET.parse(tmp / "r.xml").getroot()
    assert root.tag == "testsuites"
    cases = root.findall("./testsuite/testcase")
    numpy_cases = [c for c in cases if c.get("classname").startswith("xcrop.conformance.numpy.")]
    assert len(numpy_cases) == 9 * len(PATHS_RUN)
    assert {c.get("classname") for c in numpy_cases} == {
        f"xcrop.conformance.numpy.{p}.{SUITE}" for p in PATHS_RUN}
    assert all(c.find("failure") is None and c.find("skipped") is None for c in numpy_cases)
    skipped = [c.find("skipped") for c in cases if c.get("classname").startswith(
        "xcrop.conformance.cupy.")]
    assert skipped and all(s is not None and "cupy" in s.get("message", "").lower()
                           for s in skipped)
    assert int(root.get("tests")) == len(cases)
    assert int(root.get("failures")) == 0
    props = {p.get("name"): p.get("value") for p in root.iter("property")}
    assert props["tf_version"] == "2.21.0"


IMPLS = textwrap.dedent('''
    import numpy as np
    import xcrop

    def right(image, boxes, box_indices, crop_size, method, extrapolation_value):
        return xcrop.crop_and_resize(image, boxes, box_indices, crop_size, method,
                                     extrapolation_value)

    def one_ulp_off(image, boxes, box_indices, crop_size, method, extrapolation_value):
        out = np.array(right(image, boxes, box_indices, crop_size, method,
                             extrapolation_value))
        flat = out.reshape(-1)
        if flat.size:
            flat[-1] = np.nextafter(flat[-1], np.float32(np.inf))
        return out

    def no_nearest(image, boxes, box_indices, crop_size, method, extrapolation_value):
        if method == "nearest":
            raise NotImplementedError("no nearest mode")
        return right(image, boxes, box_indices, crop_size, method, extrapolation_value)
''')


@pytest.fixture(scope="module")
def impl_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("impl")
    (d / "my_impls.py").write_text(IMPLS)
    return d


def test_impl_right_passes(impl_dir: Path) -> None:
    proc = _run("-m", "xcrop.conformance", "--suite", SUITE, "--impl", "my_impls:right",
                "--json", str(impl_dir / "right.json"), cwd=impl_dir, extra_path=impl_dir)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # crop_v1-007 (TF1's box_ind= and box_indices= clash) does not apply to an impl.
    assert "8 of 8 cases pass" in proc.stdout
    report = json.loads((impl_dir / "right.json").read_text())
    assert report["categories"]["invalid input"]["bit_exact"] == 1


def test_impl_injected_failure_exits_nonzero(impl_dir: Path) -> None:
    proc = _run("-m", "xcrop.conformance", "--suite", SUITE, "--impl", "my_impls:one_ulp_off",
                "--json", str(impl_dir / "bad.json"), "--junit", str(impl_dir / "bad.xml"),
                cwd=impl_dir, extra_path=impl_dir)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "worst 1 ulp" in proc.stdout
    report = json.loads((impl_dir / "bad.json").read_text())
    failed = [r for r in report["results"] if r["status"] == "failed"]
    assert len(failed) == 7  # every case TF answered; the 2 error cases still raise
    root = ET.parse(impl_dir / "bad.xml").getroot()
    failures = root.findall("./testsuite/testcase/failure")
    assert len(failures) == 7 and all("ulp" in f.get("message") for f in failures)


def test_impl_unsupported_is_reported_not_failed(impl_dir: Path) -> None:
    proc = _run("-m", "xcrop.conformance", "--suite", SUITE, "--impl", "my_impls:no_nearest",
                "--junit", str(impl_dir / "nn.xml"), cwd=impl_dir, extra_path=impl_dir)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "unsupported" in proc.stdout and "no nearest mode" in proc.stdout
    skipped = ET.parse(impl_dir / "nn.xml").getroot().findall("./testsuite/testcase/skipped")
    assert skipped and all("no nearest mode" in s.get("message") for s in skipped)


def test_impl_bad_spec_is_a_usage_error(tmp_path: Path) -> None:
    proc = _run("-m", "xcrop.conformance", "--suite", SUITE, "--impl", "no_colon_here",
                cwd=tmp_path)
    assert proc.returncode == 2
    assert "module:function" in proc.stderr


def test_list_and_console_entry_point(tmp_path: Path) -> None:
    proc = _run("-m", "xcrop._cli", "conformance", "--list", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "crop_edge" in proc.stdout and "grad_random" in proc.stdout
    assert "2.21.0" in proc.stdout
    bad = _run("-m", "xcrop._cli", "conformance", "--suite", "no_such_suite", cwd=tmp_path)
    assert bad.returncode == 2 and "no_such_suite" in bad.stderr


def test_compare_subcommand(tmp_path: Path) -> None:
    proc = _run("-m", "xcrop._cli", "compare", "crop_and_resize", "--backend", "numpy",
                "--path", "generic", "--path", "fast", "--json", str(tmp_path / "c.json"),
                cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 backend/path combinations agree" in proc.stdout
    report = json.loads((tmp_path / "c.json").read_text())
    assert report["served_by"] == {"numpy/generic": "generic",
                                   "numpy/fast": "numpy fast path"}


def test_kornia_peer_adapter_in_process() -> None:
    # The peer adapters are judged by `nox -s peers`; here only that the kornia one maps
    # TF's boxes onto kornia's grid (close to TF on in-bounds boxes, not necessarily
    # bit-exact) and reports what it cannot express as unsupported.
    pytest.importorskip("kornia", reason="kornia is not installed (requirements/peers.txt)")
    from xcrop.conformance import load_suite
    from xcrop.conformance._impl import box_categories, run_impl_case
    from xcrop.conformance.peers import kornia_crop_and_resize

    cases = load_suite("crop_random")
    inside = [c for c in cases if c.check == "exact" and
              set(box_categories(c)) == {"in-bounds"} and
              c.params.get("extrapolation_value", 0.0) == 0.0][:5]
    assert inside
    for case in inside:
        res = run_impl_case(case, kornia_crop_and_resize, "torch")
        assert res.status in ("passed", "failed")
        scale = float(abs(case.inputs["image"].astype("float64")).max()) or 1.0
        assert res.worst_abs <= 1e-4 * scale, (case.key, res.message)
    size_one = next(c for c in cases if "crop size 1" in box_categories(c))
    assert run_impl_case(size_one, kornia_crop_and_resize, "torch").status == "unsupported"
