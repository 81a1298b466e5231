"""TensorFlow conformance fixtures: file format and loaders (NumPy only, no TensorFlow).

The fixtures themselves are recorded by ``conformance/record.py`` in the source tree.
"""

from ._format import (
    APIS,
    CHECKS,
    FORMAT_VERSION,
    OP_INPUTS,
    Case,
    FixtureFormatError,
    default_fixture_dir,
    list_suites,
    load_all,
    load_suite,
    write_suite,
)

__all__ = [
    "APIS",
    "CHECKS",
    "FORMAT_VERSION",
    "OP_INPUTS",
    "Case",
    "FixtureFormatError",
    "default_fixture_dir",
    "list_suites",
    "load_all",
    "load_suite",
    "write_suite",
]
