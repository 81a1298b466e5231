"""TensorFlow conformance fixtures: file format and loaders (NumPy only, no TensorFlow).

The fixtures themselves are recorded by ``tools/record/record.py`` in the source tree.
:func:`check_case` checks one case against a third-party ``crop_and_resize`` (see also
the pytest plugin :mod:`xcrop.conformance.pytest_plugin` and
``python -m xcrop.conformance --impl``).
"""

from ._format import (
    APIS,
    CHECKS,
    FORMAT_VERSION,
    OP_INPUTS,
    Case,
    FixtureFormatError,
    default_fixture_dir,
    fixture_provenance,
    list_suites,
    load_all,
    load_suite,
    write_suite,
)
from ._impl import check_case

__all__ = [
    "APIS",
    "CHECKS",
    "FORMAT_VERSION",
    "OP_INPUTS",
    "Case",
    "FixtureFormatError",
    "check_case",
    "default_fixture_dir",
    "fixture_provenance",
    "list_suites",
    "load_all",
    "load_suite",
    "write_suite",
]
