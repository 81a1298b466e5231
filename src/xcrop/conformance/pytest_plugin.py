"""pytest plugin: run xcrop's recorded TensorFlow fixtures against your own function.

Opt in from a ``conftest.py`` (or with ``pytest -p xcrop.conformance.pytest_plugin``)::

    pytest_plugins = ["xcrop.conformance.pytest_plugin"]

then write a test that takes the ``xcrop_conformance_case`` fixture; it is parametrized
over every ``crop_and_resize`` fixture (one test item per case, ids ``suite/case``)::

    from xcrop.conformance import check_case

    def test_my_crop_matches_tf(xcrop_conformance_case):
        check_case(xcrop_conformance_case, my_crop_and_resize)

:func:`~xcrop.conformance.check_case` calls your function with TF's signature
``(image, boxes, box_indices, crop_size, method, extrapolation_value)`` on NumPy inputs
(``backend="torch"`` for torch tensors) and fails with the worst deviation; an
implementation that raises :class:`NotImplementedError` makes the test *skip* with that
reason.

Selecting cases: ``@pytest.mark.xcrop_conformance(suites=[...], ops=[...])`` on the test
(``ops`` defaults to ``["crop_and_resize"]``; give ``ops=["extract_glimpse"]`` etc. for the
other fixtures and judge them yourself), or ``--xcrop-suite NAME`` (repeatable) on the
command line.

Why opt-in rather than a ``pytest11`` entry point: an entry-point plugin is imported by
every pytest run in every environment where xcrop is installed (importing NumPy and
registering an option and a marker there), whether or not the project tests a crop
function. Loading it explicitly costs nothing to those who don't use it, and fixtures
are only read from disk when a test asks for ``xcrop_conformance_case``.
"""

from __future__ import annotations

from typing import Any

import pytest

from ._format import Case, list_suites, load_suite
from ._impl import not_applicable

FIXTURE = "xcrop_conformance_case"
_cache: dict[str, list[Case]] = {}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("xcrop", "xcrop conformance fixtures")
    group.addoption("--xcrop-suite", action="append", default=None, metavar="NAME",
                    help="only these xcrop fixture suites (repeatable)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "xcrop_conformance(suites=None, ops=('crop_and_resize',)): select the xcrop TF "
        "fixtures given to the xcrop_conformance_case fixture")


def _suite_cases(suite: str) -> list[Case]:
    if suite not in _cache:
        _cache[suite] = load_suite(suite)  # a bare name: looked up in the shipped fixtures
    return _cache[suite]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if FIXTURE not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker("xcrop_conformance")
    kwargs: dict[str, Any] = dict(marker.kwargs) if marker else {}
    known = list_suites()
    suites = kwargs.get("suites") or metafunc.config.getoption("xcrop_suite") or known
    unknown = sorted(set(suites) - set(known))
    if unknown:
        raise pytest.UsageError(f"xcrop_conformance: unknown suite(s) {unknown}; "
                                f"known: {known}")
    ops = tuple(kwargs.get("ops") or ("crop_and_resize",))
    params = []
    for suite in suites:
        for c in _suite_cases(suite):
            if c.op not in ops:
                continue
            why = not_applicable(c) if c.op == "crop_and_resize" else None
            marks = [pytest.mark.skip(reason=f"xcrop fixture {c.key}: {why}")] if why else []
            params.append(pytest.param(c, id=c.key, marks=marks))
    metafunc.parametrize(FIXTURE, params)
