"""The ``xcrop`` command (also ``python -m xcrop``).

``xcrop conformance ...``  the recorded TF fixtures on every backend and path (the same as
                           ``python -m xcrop.conformance``; ``xcrop conformance -h``).
``xcrop compare ...``      one operation on random (or ``.npz``) inputs through several
                           backends and paths, and the largest disagreement between them.
``xcrop --version``        the installed version.

Both commands need NumPy (the fixtures are NumPy arrays); ``--help`` and ``--version``
work without it.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path
from typing import Any

_OPS = ("crop_and_resize", "extract_glimpse")


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}") from None


def _random_inputs(args: argparse.Namespace) -> tuple[list[Any], dict[str, Any]]:
    """Random inputs for ``args.op``: a normal float image, boxes spread over [-0.25, 1.25]
    (so flipped and out-of-image boxes occur), glimpse offsets over [-1.2, 1.2]."""
    import numpy as np

    rng = np.random.default_rng(args.seed)
    if len(args.image_shape) != 4:
        raise SystemExit(f"--image-shape needs 4 integers (batch,height,width,channels), got "
                         f"{args.image_shape}")
    b = args.image_shape[0]
    image = (rng.normal(size=args.image_shape) * 10).astype(args.dtype)
    if args.op == "crop_and_resize":
        boxes = rng.uniform(-0.25, 1.25, size=(args.boxes, 4)).astype(np.float32)
        idx = rng.integers(0, b, size=args.boxes).astype(np.int32)
        kwargs = {"method": args.method, "extrapolation_value": args.extrapolation_value}
        return [image, boxes, idx, args.crop_size], kwargs
    offsets = rng.uniform(-1.2, 1.2, size=(b, 2)).astype(np.float32)
    # Deterministic fill: random noise would differ between backends by design.
    return [image, args.crop_size, offsets], {"noise": "zero"}


def _npz_inputs(args: argparse.Namespace) -> tuple[list[Any], dict[str, Any]]:
    import numpy as np

    with np.load(args.npz, allow_pickle=False) as f:
        data = {k: f[k] for k in f.files}
    names = ("image", "boxes", "box_indices") if args.op == "crop_and_resize" \
        else ("input", "offsets")
    missing = [n for n in names if n not in data]
    if missing:
        raise SystemExit(f"{args.npz}: {args.op} needs arrays {list(names)}, missing "
                         f"{missing} (found {sorted(data)})")
    if args.op == "crop_and_resize":
        kwargs = {"method": args.method, "extrapolation_value": args.extrapolation_value}
        return [data["image"], data["boxes"], data["box_indices"], args.crop_size], kwargs
    return [data["input"], args.crop_size, data["offsets"]], {"noise": "zero"}


def compare_main(argv: list[str]) -> int:
    from .conformance._adapters import ADAPTERS, PATHS
    from .testing import compare_backends

    p = argparse.ArgumentParser(
        prog="xcrop compare",
        description="Run one xcrop operation on the same inputs through several backends and "
                    "paths; print the largest disagreement with the first. Exit 1 when some "
                    "combination disagrees by more than --max-ulp.")
    p.add_argument("op", choices=_OPS)
    p.add_argument("--npz", type=Path,
                   help="inputs from a .npz (image, boxes, box_indices | input, offsets) "
                        "instead of random ones")
    p.add_argument("--seed", type=int, default=0, help="random inputs: seed (default 0)")
    p.add_argument("--image-shape", type=_ints, default=(2, 32, 32, 3),
                   help="random inputs: batch,height,width,channels (default 2,32,32,3)")
    p.add_argument("--dtype", default="float32", choices=("float16", "float32", "float64",
                                                          "uint8", "int16", "int32"),
                   help="random inputs: image dtype (default float32)")
    p.add_argument("--boxes", type=int, default=16, help="random inputs: number of boxes")
    p.add_argument("--crop-size", type=_ints, default=(7, 7),
                   help="crop_size (crop_and_resize) or size (extract_glimpse), default 7,7")
    p.add_argument("--method", default="bilinear", choices=("bilinear", "nearest"))
    p.add_argument("--extrapolation-value", type=float, default=0.0)
    p.add_argument("--backend", action="append", choices=[a.name for a in ADAPTERS],
                   help="backend (repeatable; default: every one that runs here; the first "
                        "is the reference)")
    p.add_argument("--path", action="append", choices=PATHS,
                   help="path (repeatable; default: fast and generic)")
    p.add_argument("--max-ulp", type=int, default=0)
    p.add_argument("--json", type=Path, metavar="PATH", help="write the report as JSON")
    args = p.parse_args(argv)
    paths = args.path or ("fast", "generic")
    # Progress on stderr from the start: a numba compile (first use on a machine) and eager
    # JAX's generic path (it compiles every operation for new shapes) take a while.
    print(f"xcrop compare {args.op}: preparing inputs…", file=sys.stderr, flush=True)
    args_list, kwargs = _npz_inputs(args) if args.npz else _random_inputs(args)
    if "fast" in paths:
        from ._backends.numba import loader

        loader.compile_kernels(progress=lambda m: print(m, file=sys.stderr, flush=True))
    clock = {"start": time.perf_counter(), "last": None}

    def step(target: str) -> None:
        now = time.perf_counter()
        if clock["last"] is not None:
            print(f" {now - clock['last']:.1f} s", file=sys.stderr, flush=True)
        clock["last"] = now
        print(f"  {target}…", end="", file=sys.stderr, flush=True)

    try:
        report = compare_backends(args.op, *args_list, backends=args.backend, paths=paths,
                                  max_ulp=args.max_ulp, progress=step, **kwargs)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        if clock["last"] is not None:
            print(f" {time.perf_counter() - clock['last']:.1f} s", file=sys.stderr, flush=True)
    source = str(args.npz) if args.npz else f"random inputs (seed {args.seed})"
    print(f"xcrop compare {args.op} on {source}: reference {report.targets[0]}")
    print(report.table())
    for t, e in report.errors.items():
        print(f"{t} raised {e}")
    print(report.message().splitlines()[0])
    if args.json:
        args.json.write_text(json.dumps({
            "op": report.op, "max_ulp": report.max_ulp, "targets": report.targets,
            "served_by": report.served_by, "skipped": report.skipped, "errors": report.errors,
            "comparisons": [{**c.__dict__, "agrees": c.agrees} for c in report.comparisons],
        }, indent=1, default=str))
    return 0 if report.ok else 1


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    usage = ("usage: xcrop {conformance,compare} ... | xcrop --version\n\n"
             "  conformance  check xcrop (or --impl another function) against the recorded\n"
             "               TensorFlow fixtures on every backend and path\n"
             "  compare      run one operation through several backends/paths and report\n"
             "               the largest disagreement\n"
             "  --version    print xcrop's version\n\n"
             "`xcrop <command> -h` for the options of a command.")
    if not argv or argv[0] in ("-h", "--help"):
        print(usage)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command in ("conformance", "compare") and importlib.util.find_spec("numpy") is None:
        print(f"xcrop {command} needs NumPy (a dependency of xcrop): pip install numpy",
              file=sys.stderr)
        return 2
    if command == "conformance":
        from .conformance._cli import main as conformance_main

        return conformance_main(rest, prog="xcrop conformance")
    if command == "compare":
        return compare_main(rest)
    if command in ("--version", "-V"):
        from . import __version__

        print(f"xcrop {__version__}")
        return 0
    print(f"xcrop: unknown command {command!r}\n\n{usage}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
