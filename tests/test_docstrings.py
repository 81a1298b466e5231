"""The docstring examples of xcrop's modules run and print what they show.

Every module of the package whose source holds an example (``>>>``) is found by walking
the package, so a new example is checked without being listed anywhere.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil
from pathlib import Path

import pytest

import xcrop


def _modules_with_examples() -> list[str]:
    found = []
    for info in pkgutil.walk_packages(xcrop.__path__, prefix="xcrop."):
        spec = importlib.util.find_spec(info.name)
        origin = getattr(spec, "origin", None)
        if origin and origin.endswith(".py") and ">>>" in Path(origin).read_text():
            found.append(info.name)
    return sorted(found)


MODULES = _modules_with_examples()


def test_examples_are_found() -> None:
    # The public modules carry examples; finding none means the walk is broken.
    assert {"xcrop.api", "xcrop.gradients", "xcrop.compat.v1"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    from xcrop._core import config

    module = importlib.import_module(name)
    limit_before = config.max_output_bytes()
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
                             verbose=False)
    assert result.attempted > 0, f"{name} has '>>>' but doctest found no example"
    assert result.failed == 0, f"{result.failed} docstring example(s) of {name} failed"
    # An example that changes process-wide settings must put them back: one that left the
    # output limit off once let a later test allocate 128 TiB and the OOM killer end CI.
    assert config.max_output_bytes() == limit_before, f"{name}'s examples left the limit changed"
