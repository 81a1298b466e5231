"""The benchmark results make_figures.py and make_tables.py show: ``bench/results.json``
(written by ``bench/bench.py``) or the file given with ``--bench-json``."""

from __future__ import annotations

import argparse
from pathlib import Path

#: The results file in use; :func:`parse_args` replaces it with ``--bench-json``'s.
BENCH_JSON = Path(__file__).resolve().parents[2] / "bench" / "results.json"


def parse_args(p: argparse.ArgumentParser, argv: list[str] | None,
               use: str) -> argparse.Namespace:
    """Parse ``argv`` with ``p``'s options plus ``--bench-json`` (the results to ``use``)."""
    global BENCH_JSON
    p.add_argument("--bench-json", type=Path, default=None,
                   help=f"benchmark results to {use} (default: bench/results.json)")
    opts = p.parse_args(argv)
    if opts.bench_json is not None:
        BENCH_JSON = opts.bench_json
    return opts
