"""The committed generated docs tables match the declarations they are generated from.

``docs/_gen/*.md`` is written by ``docs/_tools/make_tables.py`` from
``xcrop.capabilities.LIMITATIONS``, the fast-path registry and the conformance adapters;
``nox -s docs`` regenerates it, and this test catches a commit that changed a declaration
without regenerating the committed copy (which GitHub readers see).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "docs" / "_tools" / "make_tables.py"


@pytest.mark.skipif(not SCRIPT.exists(), reason="docs/_tools/make_tables.py is not in this tree")
def test_generated_tables_are_up_to_date() -> None:
    out = subprocess.run([sys.executable, str(SCRIPT), "--check"], capture_output=True,
                         text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr


def test_limitations_table_lists_every_declaration() -> None:
    from xcrop.capabilities import LIMITATIONS

    table = (ROOT / "docs" / "_gen" / "limitations_table.md").read_text()
    rows = [line for line in table.splitlines() if line.startswith("| L")]
    assert len(rows) == len(LIMITATIONS)
    for row, lim in zip(rows, LIMITATIONS, strict=True):
        assert f"`{lim.backend}`" in row and f"`{lim.operation}`" in row
