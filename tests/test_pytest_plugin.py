"""The pytest plugin, run inside a throw-away pytest session (pytester): a correct
implementation passes every selected TF fixture, a wrong one fails with the deviation,
an unsupported feature skips with its reason."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

CONFTEST = 'pytest_plugins = ["xcrop.conformance.pytest_plugin"]\n'

TESTS = '''
import numpy as np
import pytest
import xcrop
from xcrop.conformance import check_case


def right(image, boxes, box_indices, crop_size, method, extrapolation_value):
    return xcrop.crop_and_resize(image, boxes, box_indices, crop_size, method,
                                 extrapolation_value)


def off_by_a_little(*args):
    return np.asarray(right(*args)) + np.float32(1e-3)


def no_nearest(image, boxes, box_indices, crop_size, method, extrapolation_value):
    if method == "nearest":
        raise NotImplementedError("nearest is not implemented")
    return right(image, boxes, box_indices, crop_size, method, extrapolation_value)


@pytest.mark.xcrop_conformance(suites=["crop_v1"])
def test_right(xcrop_conformance_case):
    check_case(xcrop_conformance_case, right)


@pytest.mark.xcrop_conformance(suites=["crop_v1"])
def test_wrong(xcrop_conformance_case):
    check_case(xcrop_conformance_case, off_by_a_little)


@pytest.mark.xcrop_conformance(suites=["crop_v1"])
def test_unsupported(xcrop_conformance_case):
    check_case(xcrop_conformance_case, no_nearest)
'''


@pytest.fixture(autouse=True)
def _no_numba(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XCROP_NO_NUMBA", "1")  # numba kernels take a minute to compile


def test_plugin_parametrizes_and_judges(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_impl=TESTS)
    result = pytester.runpytest_inprocess("-rs")
    # crop_v1 holds 9 crop cases; one (TF1's keyword clash) does not apply: skipped.
    # right: 8 pass; wrong: 7 fail (the error case still raises: passes); unsupported:
    # the 3 nearest cases skip, 5 pass.
    result.assert_outcomes(passed=8 + 1 + 5, failed=7, skipped=3 + 3)
    result.stdout.fnmatch_lines(["E *AssertionError: crop_v1/crop_v1-00*worst * ulp*"])
    result.stdout.fnmatch_lines(["*nearest is not implemented*"])
    result.stdout.fnmatch_lines(["*keyword clash*"])


def test_command_line_suite_selection(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_sel='''
def test_ids(xcrop_conformance_case):
    assert xcrop_conformance_case.suite == "crop_v1"
''')
    result = pytester.runpytest_inprocess("--xcrop-suite", "crop_v1", "--collect-only", "-q")
    result.stdout.fnmatch_lines(["*test_ids?crop_v1/crop_v1-000?*"])
    assert sum("test_ids[" in line for line in result.stdout.lines) == 9
    bad = pytester.runpytest_inprocess("--xcrop-suite", "nope", "--collect-only", "-q")
    assert bad.ret != 0
    assert "unknown suite" in bad.stdout.str() + bad.stderr.str()


def test_not_loaded_without_opt_in(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_plain='''
def test_needs(xcrop_conformance_case):
    pass
''')
    result = pytester.runpytest_inprocess()
    result.stdout.fnmatch_lines(["*fixture 'xcrop_conformance_case' not found*"])
