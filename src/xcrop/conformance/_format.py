"""On-disk format of xcrop's TensorFlow conformance fixtures.

A suite is ``<suite>.npz`` (the arrays, written byte-reproducibly) plus ``<suite>.json``
(format version, provenance, and per case its id, op, api, params, check, error and
description). docs/conformance.md ("The fixture format") documents the files and the
meaning of a case, the contract between the recorder (tools/record) and the tests.
This module needs only NumPy and the standard library; it never imports TensorFlow.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import re
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

FORMAT_VERSION = 1

#: Input array names of each op, in call order.
OP_INPUTS: dict[str, tuple[str, ...]] = {
    "crop_and_resize": ("image", "boxes", "box_indices"),
    "extract_glimpse": ("input", "offsets"),
    "crop_and_resize_grad_image": ("grads", "boxes", "box_indices"),
    "crop_and_resize_grad_boxes": ("grads", "image", "boxes", "box_indices"),
}
APIS = ("v1", "v2", "raw")
CHECKS = ("exact", "fill_stats", "error")

_EXPECTED = "expected"
_NAME_RE = re.compile(r"^[A-Za-z0-9_.\-]+$")
_ZIP_DATE_TIME = (1980, 1, 1, 0, 0, 0)
_ZIP_LEVEL = 6
_FIXTURE_ENV = "XCROP_FIXTURE_DIR"


class FixtureFormatError(ValueError):
    """A fixture suite is missing, corrupt, inconsistent or of an unsupported version."""


@dataclass(frozen=True, eq=False)
class Case:
    """One recorded TensorFlow call and its outcome.

    ``eq=False``: cases hold NumPy arrays, so they compare (and hash) by identity.
    """

    suite: str
    id: str
    op: str
    api: str
    inputs: dict[str, np.ndarray]
    params: dict[str, Any]
    expected: np.ndarray | None
    check: str
    error: dict | None = None
    description: str = ""

    def __post_init__(self) -> None:
        where = f"case {self.id!r} of suite {self.suite!r}"
        if not isinstance(self.suite, str) or not _NAME_RE.match(self.suite):
            raise FixtureFormatError(f"{where}: bad suite name (allowed: [A-Za-z0-9_.-]+)")
        if not isinstance(self.id, str) or not _NAME_RE.match(self.id):
            raise FixtureFormatError(f"{where}: bad case id (allowed: [A-Za-z0-9_.-]+)")
        if self.op not in OP_INPUTS:
            raise FixtureFormatError(f"{where}: unknown op {self.op!r}; known: {list(OP_INPUTS)}")
        if self.api not in APIS:
            raise FixtureFormatError(f"{where}: api must be one of {APIS}, got {self.api!r}")
        if self.check not in CHECKS:
            raise FixtureFormatError(f"{where}: check must be one of {CHECKS}, got {self.check!r}")
        if set(self.inputs) != set(OP_INPUTS[self.op]):
            raise FixtureFormatError(
                f"{where}: op {self.op!r} needs inputs {sorted(OP_INPUTS[self.op])}, "
                f"got {sorted(self.inputs)}"
            )
        for name, arr in self.inputs.items():
            if not isinstance(arr, np.ndarray):
                raise FixtureFormatError(f"{where}: input {name!r} is not a numpy array")
        if not isinstance(self.params, dict):
            raise FixtureFormatError(f"{where}: params must be a dict")
        if self.check == "error":
            if self.expected is not None:
                raise FixtureFormatError(f"{where}: an error case must have expected=None")
            if not isinstance(self.error, dict) or "tf_type" not in self.error:
                raise FixtureFormatError(f"{where}: an error case needs error={{'tf_type': ...}}")
        else:
            if not isinstance(self.expected, np.ndarray):
                raise FixtureFormatError(f"{where}: check {self.check!r} needs an expected array")
            if self.error is not None:
                raise FixtureFormatError(f"{where}: only error cases may have an error dict")

    @property
    def key(self) -> str:
        """``"<suite>/<id>"``, unique across all suites."""
        return f"{self.suite}/{self.id}"

    def arrays(self) -> dict[str, np.ndarray]:
        """All arrays of the case (inputs, plus ``expected`` when present)."""
        out = dict(self.inputs)
        if self.expected is not None:
            out[_EXPECTED] = self.expected
        return out

    def __repr__(self) -> str:
        arrs = ", ".join(f"{k}={v.dtype}{list(v.shape)}" for k, v in self.arrays().items())
        return f"Case({self.key} {self.op} {self.api} {self.check} params={self.params!r} {arrs})"


# --------------------------------------------------------------------------------------
# params <-> JSON


def _normalize_params(value: Any, where: str) -> Any:
    """Convert params to plain JSON-able Python values (tuples -> lists, numpy scalars)."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)):
        return [_normalize_params(v, where) for v in value]
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise FixtureFormatError(f"{where}: params keys must be str, got {k!r}")
            out[k] = _normalize_params(v, where)
        return out
    raise FixtureFormatError(f"{where}: params value {value!r} ({type(value)}) is not JSON-able")


def _encode_floats(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return {"$float": "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")}
    if isinstance(value, list):
        return [_encode_floats(v) for v in value]
    if isinstance(value, dict):
        return {k: _encode_floats(v) for k, v in value.items()}
    return value


def _decode_floats(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"$float"}:
            tag = value["$float"]
            if tag not in ("nan", "inf", "-inf"):
                raise FixtureFormatError(f"bad non-finite float tag {tag!r}")
            return float(tag)
        return {k: _decode_floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode_floats(v) for v in value]
    return value


# --------------------------------------------------------------------------------------
# arrays <-> npy bytes


def _npy_bytes(arr: np.ndarray) -> bytes:
    if arr.dtype.hasobject:
        raise FixtureFormatError("object arrays cannot be stored in fixtures")
    if arr.dtype.byteorder == ">":  # store little-endian, whatever the source
        arr = arr.astype(arr.dtype.newbyteorder("<"))
    if not arr.flags.c_contiguous:
        arr = arr.copy(order="C")
    buf = io.BytesIO()
    np.lib.format.write_array(buf, arr, allow_pickle=False)
    return buf.getvalue()


def _zip_bytes(members: Mapping[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
        for name in sorted(members):
            info = zipfile.ZipInfo(name, date_time=_ZIP_DATE_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # unix, whatever the platform
            info.external_attr = 0o644 << 16
            zf.writestr(info, members[name], compresslevel=_ZIP_LEVEL)
    return buf.getvalue()


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


# --------------------------------------------------------------------------------------
# writing


def write_suite(
    directory: str | os.PathLike,
    suite: str,
    cases: Iterable[Case],
    *,
    tf_version: str,
    numpy_version: str | None = None,
    recorder: str = "tools/record/record.py",
) -> tuple[Path, Path]:
    """Write ``cases`` as ``<directory>/<suite>.npz`` and ``<suite>.json``.

    Cases keep the given order.  Returns the two paths.  Deterministic: the same cases and
    metadata always produce the same bytes (for a given zlib).
    """
    cases = list(cases)
    if not _NAME_RE.match(suite):
        raise FixtureFormatError(f"bad suite name {suite!r} (allowed: [A-Za-z0-9_.-]+)")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)

    members: dict[str, bytes] = {}
    entries = []
    seen: set[str] = set()
    for case in cases:
        where = f"case {case.id!r}"
        if case.suite != suite:
            raise FixtureFormatError(f"{where} belongs to suite {case.suite!r}, not {suite!r}")
        if case.id in seen:
            raise FixtureFormatError(f"duplicate case id {case.id!r} in suite {suite!r}")
        seen.add(case.id)
        arrays_meta = {}
        for name, arr in sorted(case.arrays().items()):
            if not _NAME_RE.match(name):
                raise FixtureFormatError(f"{where}: bad array name {name!r}")
            arr = np.asarray(arr)
            key = f"{case.id}/{name}"
            members[key + ".npy"] = _npy_bytes(arr)
            arrays_meta[name] = {"key": key, "dtype": arr.dtype.name, "shape": list(arr.shape)}
        error = None
        if case.error is not None:
            error = _normalize_params(case.error, where)
        entries.append(
            {
                "id": case.id,
                "op": case.op,
                "api": case.api,
                "params": _encode_floats(_normalize_params(case.params, where)),
                "check": case.check,
                "error": error,
                "description": case.description,
                "arrays": arrays_meta,
            }
        )

    npz = _zip_bytes(members)
    sidecar = {
        "format": FORMAT_VERSION,
        "suite": suite,
        "tf_version": tf_version,
        "numpy_version": numpy_version if numpy_version is not None else np.__version__,
        "recorder": recorder,
        "npz_sha256": hashlib.sha256(npz).hexdigest(),
        "cases": entries,
    }
    text = json.dumps(sidecar, sort_keys=True, indent=1, allow_nan=False, ensure_ascii=True)
    npz_path = directory / f"{suite}.npz"
    json_path = directory / f"{suite}.json"
    _atomic_write(npz_path, npz)
    _atomic_write(json_path, (text + "\n").encode("ascii"))
    return npz_path, json_path


# --------------------------------------------------------------------------------------
# reading


def default_fixture_dir() -> Path:
    """Directory holding the fixtures.

    Looks, in order, at ``$XCROP_FIXTURE_DIR``, the source checkout
    (``<repo>/conformance/fixtures``) and ``xcrop/conformance/fixtures`` inside the
    installed package.  Raises FileNotFoundError if none exists.
    """
    env = os.environ.get(_FIXTURE_ENV)
    if env:
        path = Path(env)
        if not path.is_dir():
            raise FileNotFoundError(f"${_FIXTURE_ENV}={env!r} is not a directory")
        return path
    here = Path(__file__).resolve()
    candidates = [here.parents[3] / "conformance" / "fixtures", here.parent / "fixtures"]
    for path in candidates:
        if path.is_dir() and any(path.glob("*.json")):
            return path
    raise FileNotFoundError(
        "no xcrop conformance fixtures found (looked in "
        + ", ".join(str(p) for p in candidates)
        + f"); set ${_FIXTURE_ENV} or run tools/record/record.py"
    )


def _suite_paths(path: str | os.PathLike) -> tuple[Path, Path]:
    p = Path(path)
    if p.suffix in (".json", ".npz"):
        p = p.with_suffix("")
    json_path, npz_path = p.with_name(p.name + ".json"), p.with_name(p.name + ".npz")
    if not json_path.exists() and not npz_path.exists() and p.parent == Path("."):
        # A bare suite name: look in the default fixture directory.
        try:
            base = default_fixture_dir()
        except FileNotFoundError:
            pass
        else:
            json_path, npz_path = base / json_path.name, base / npz_path.name
    return json_path, npz_path


def _require(cond: bool, msg: str) -> None:
    if not cond:
        raise FixtureFormatError(msg)


def load_suite(path: str | os.PathLike, *, verify_hash: bool = True) -> list[Case]:
    """Load one suite.

    ``path`` may be the ``.json`` file, the ``.npz`` file, the common stem, or a bare suite
    name (looked up in :func:`default_fixture_dir`).  Raises :class:`FixtureFormatError` on
    a corrupt or inconsistent suite and FileNotFoundError if a file is missing.
    """
    json_path, npz_path = _suite_paths(path)
    for p in (json_path, npz_path):
        if not p.is_file():
            raise FileNotFoundError(f"fixture file {p} is missing (suite {json_path.stem!r})")

    try:
        meta = json.loads(json_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FixtureFormatError(f"{json_path}: not valid JSON: {exc}") from exc
    _require(isinstance(meta, dict), f"{json_path}: top level must be an object")
    fmt = meta.get("format")
    _require(
        fmt == FORMAT_VERSION,
        f"{json_path}: unsupported fixture format {fmt!r} (this xcrop reads format "
        f"{FORMAT_VERSION}); re-record the fixtures or upgrade xcrop",
    )
    suite = meta.get("suite")
    _require(
        suite == json_path.stem,
        f"{json_path}: sidecar says suite {suite!r} but the file is named {json_path.stem!r}",
    )
    entries = meta.get("cases")
    _require(isinstance(entries, list), f"{json_path}: 'cases' must be a list")

    raw = npz_path.read_bytes()
    if verify_hash and "npz_sha256" in meta:
        _require(
            hashlib.sha256(raw).hexdigest() == meta["npz_sha256"],
            f"{npz_path}: content does not match the sha256 recorded in {json_path.name} "
            "(files from different recordings, or corrupted; binary files mangled by git "
            "line-ending conversion?)",
        )
    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except Exception as exc:  # zipfile.BadZipFile, ValueError, OSError...
        raise FixtureFormatError(f"{npz_path}: cannot read archive: {exc}") from exc

    cases = []
    used: set[str] = set()
    ids: set[str] = set()
    for i, entry in enumerate(entries):
        where = f"{json_path}: case #{i}"
        _require(isinstance(entry, dict), f"{where}: must be an object")
        missing = {"id", "op", "api", "params", "check", "arrays"} - set(entry)
        _require(not missing, f"{where}: missing fields {sorted(missing)}")
        cid = entry["id"]
        where = f"{json_path}: case {cid!r}"
        _require(cid not in ids, f"{where}: duplicate id")
        ids.add(cid)
        loaded = {}
        _require(isinstance(entry["arrays"], dict), f"{where}: 'arrays' must be an object")
        for name, info in entry["arrays"].items():
            key = info.get("key")
            _require(key in arrays, f"{where}: array {name!r} (key {key!r}) not in {npz_path}")
            arr = arrays[key]
            _require(
                arr.dtype.name == info.get("dtype") and list(arr.shape) == info.get("shape"),
                f"{where}: array {name!r} is {arr.dtype.name}{list(arr.shape)} in the npz but "
                f"{info.get('dtype')}{info.get('shape')} in the sidecar",
            )
            used.add(key)
            loaded[name] = arr
        expected = loaded.pop(_EXPECTED, None)
        try:
            case = Case(
                suite=suite,
                id=cid,
                op=entry["op"],
                api=entry["api"],
                inputs=loaded,
                params=_decode_floats(entry["params"]),
                expected=expected,
                check=entry["check"],
                error=entry.get("error"),
                description=entry.get("description", ""),
            )
        except FixtureFormatError as exc:
            raise FixtureFormatError(f"{json_path}: {exc}") from exc
        cases.append(case)
    extra = sorted(set(arrays) - used)
    _require(not extra, f"{npz_path}: arrays not described in the sidecar: {extra[:5]}")
    return cases


def list_suites(directory: str | os.PathLike | None = None) -> list[str]:
    """Sorted names of the suites in ``directory`` (default: :func:`default_fixture_dir`)."""
    directory = Path(directory) if directory is not None else default_fixture_dir()
    if not directory.is_dir():
        raise FileNotFoundError(f"fixture directory {directory} does not exist")
    jsons = {p.stem for p in directory.glob("*.json")}
    npzs = {p.stem for p in directory.glob("*.npz")}
    orphans = sorted(jsons ^ npzs)
    if orphans:
        raise FixtureFormatError(f"{directory}: suites with only one of .json/.npz: {orphans}")
    return sorted(jsons)


def load_all(directory: str | os.PathLike | None = None) -> list[Case]:
    """Every case of every suite in ``directory``, suites sorted by name, cases in order."""
    directory = Path(directory) if directory is not None else default_fixture_dir()
    cases: list[Case] = []
    for name in list_suites(directory):
        cases.extend(load_suite(directory / name))
    return cases


def fixture_provenance(directory: str | os.PathLike | None = None) -> dict[str, dict[str, Any]]:
    """Per suite: ``tf_version``, ``numpy_version``, ``recorder`` and the number of cases
    (``n_cases``), read from the sidecars only (no arrays are loaded)."""
    directory = Path(directory) if directory is not None else default_fixture_dir()
    out = {}
    for name in list_suites(directory):
        path = directory / f"{name}.json"
        try:
            meta = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise FixtureFormatError(f"{path}: not valid JSON: {exc}") from exc
        cases = meta.get("cases") or []
        out[name] = {
            "tf_version": meta.get("tf_version", "unknown"),
            "numpy_version": meta.get("numpy_version", "unknown"),
            "recorder": meta.get("recorder", "unknown"),
            "n_cases": len(cases),
            "ops": sorted({c.get("op", "?") for c in cases}),
        }
    return out
