"""Tests of the conformance fixture format (no TensorFlow, no xcrop implementation)."""

from __future__ import annotations

import json
import math
import zipfile

import numpy as np
import pytest

from xcrop.conformance import (
    Case,
    FixtureFormatError,
    default_fixture_dir,
    list_suites,
    load_all,
    load_suite,
    write_suite,
)

ALL_DTYPES = [
    np.uint8, np.uint16, np.uint32, np.uint64, np.int8, np.int16, np.int32, np.int64,
    np.float16, np.float32, np.float64, np.bool_, np.complex64, np.complex128,
]  # fmt: skip

EXPECTED_SUITES = {
    "crop_edge",
    "crop_random",
    "crop_dtypes",
    "crop_v1",
    "crop_errors",
    "glimpse_v2",
    "glimpse_v1",
    "glimpse_fill",
    "glimpse_errors",
}


def _values(dtype, rng):
    dt = np.dtype(dtype)
    if dt.kind in "ui":
        info = np.iinfo(dt)
        v = rng.integers(info.min, info.max, (2, 3, 4, 2), dtype=dt, endpoint=True)
        v.flat[:2] = [info.min, info.max]
        return v
    if dt.kind == "b":
        return rng.random((2, 3, 4, 2)) < 0.5
    if dt.kind == "c":
        return (rng.standard_normal((1, 2, 2, 1)) + 1j * rng.standard_normal((1, 2, 2, 1))).astype(
            dt
        )
    v = rng.standard_normal((2, 3, 4, 2)).astype(dt)
    v.flat[:6] = [np.nan, np.inf, -np.inf, -0.0, np.finfo(dt).max, np.finfo(dt).smallest_subnormal]
    return v


def _make_cases(suite="fmt_test"):
    rng = np.random.default_rng(0)
    cases = []
    for i, dt in enumerate(ALL_DTYPES):
        image = _values(dt, rng)
        ok = np.dtype(dt).kind in "uif" and dt not in (np.uint32, np.uint64)
        cases.append(
            Case(
                suite=suite,
                id=f"{suite}-{i:03d}",
                op="crop_and_resize",
                api="v2",
                inputs={
                    "image": image,
                    "boxes": rng.uniform(-1, 2, (3, 4)).astype(np.float32),
                    "box_indices": np.array([0, 1, 0], np.int32),
                },
                params={
                    "crop_size": [2, 3],
                    "method": "bilinear",
                    "extrapolation_value": [0.1, -0.0, math.nan, math.inf, -math.inf][i % 5],
                },
                expected=rng.standard_normal((3, 2, 3, 2)).astype(np.float32) if ok else None,
                check="exact" if ok else "error",
                error=None if ok else {"tf_type": "InvalidArgumentError", "tf_message": "bad T"},
                description=f"dtype {np.dtype(dt).name} ünïcode",
            )
        )
    cases.append(
        Case(
            suite=suite,
            id=f"{suite}-glimpse",
            op="extract_glimpse",
            api="v1",
            inputs={
                "input": np.zeros((0, 3, 3, 1), np.float32),
                "offsets": np.zeros((0, 2), np.float32),
            },
            params={
                "size": (np.int32(0), 3),
                "centered": np.bool_(True),
                "normalized": False,
                "uniform_noise": False,
                "noise": "zero",
            },
            expected=np.zeros((0, 0, 3, 1), np.float32),
            check="fill_stats",
        )
    )
    return cases


def _same_array(a, b):
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def _same_param(a, b):
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or (
            a == b and math.copysign(1, a) == math.copysign(1, b)
        )
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same_param(x, y) for x, y in zip(a, b, strict=True))
    return a == b and type(a) is type(b)


# ---------------------------------------------------------------------------------------
# format


def test_round_trip_all_dtypes(tmp_path):
    cases = _make_cases()
    write_suite(tmp_path, "fmt_test", cases, tf_version="2.21.0")
    loaded = load_suite(tmp_path / "fmt_test.json")
    assert [c.id for c in loaded] == [c.id for c in cases]
    for orig, back in zip(cases, loaded, strict=True):
        assert back.suite == "fmt_test"
        assert (back.op, back.api, back.check, back.description) == (
            orig.op,
            orig.api,
            orig.check,
            orig.description,
        )
        assert back.error == orig.error
        assert set(back.inputs) == set(orig.inputs)
        for name in orig.inputs:
            assert _same_array(back.inputs[name], np.asarray(orig.inputs[name])), name
        if orig.expected is None:
            assert back.expected is None
        else:
            assert _same_array(back.expected, orig.expected)
        for k, v in orig.params.items():
            norm = [int(x) for x in v] if isinstance(v, tuple) else v
            norm = bool(norm) if isinstance(norm, np.bool_) else norm
            assert _same_param(back.params[k], norm), (k, back.params[k], v)
    # uint8 stays uint8, bool stays bool, etc.
    assert [c.inputs["image"].dtype for c in loaded[: len(ALL_DTYPES)]] == [
        np.dtype(d) for d in ALL_DTYPES
    ]


def test_loading_by_stem_npz_and_name(tmp_path, monkeypatch):
    write_suite(tmp_path, "fmt_test", _make_cases(), tf_version="2.21.0")
    for p in (tmp_path / "fmt_test", tmp_path / "fmt_test.npz", str(tmp_path / "fmt_test.json")):
        assert len(load_suite(p)) == len(ALL_DTYPES) + 1
    monkeypatch.setenv("XCROP_FIXTURE_DIR", str(tmp_path))
    assert default_fixture_dir() == tmp_path
    assert len(load_suite("fmt_test")) == len(ALL_DTYPES) + 1
    assert list_suites() == ["fmt_test"]


def test_npz_is_plain_numpy(tmp_path):
    cases = _make_cases()
    npz_path, json_path = write_suite(tmp_path, "fmt_test", cases, tf_version="2.21.0")
    with np.load(npz_path, allow_pickle=False) as npz:
        assert _same_array(npz["fmt_test-000/image"], cases[0].inputs["image"])
        assert _same_array(npz["fmt_test-000/expected"], cases[0].expected)
    with zipfile.ZipFile(npz_path) as zf:
        names = [i.filename for i in zf.infolist()]
        assert names == sorted(names)
        assert {i.date_time for i in zf.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        assert {i.compress_type for i in zf.infolist()} == {zipfile.ZIP_DEFLATED}
    meta = json.loads(json_path.read_text())
    assert meta["format"] == 1 and meta["suite"] == "fmt_test"
    assert meta["tf_version"] == "2.21.0" and meta["numpy_version"] == np.__version__
    # non-finite params are tagged, so the sidecar is strict JSON
    json.loads(json_path.read_text(), parse_constant=lambda c: pytest.fail(f"non-JSON {c}"))


def test_write_is_deterministic(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    write_suite(a, "fmt_test", _make_cases(), tf_version="2.21.0")
    write_suite(b, "fmt_test", _make_cases(), tf_version="2.21.0")
    for ext in ("npz", "json"):
        assert (a / f"fmt_test.{ext}").read_bytes() == (b / f"fmt_test.{ext}").read_bytes()
    first = (a / "fmt_test.npz").read_bytes()
    write_suite(a, "fmt_test", load_suite(a / "fmt_test"), tf_version="2.21.0")
    assert (a / "fmt_test.npz").read_bytes() == first  # load -> write is a fixed point


def test_non_contiguous_and_big_endian_arrays(tmp_path):
    img = np.arange(24, dtype=">f4").reshape(1, 4, 6, 1)[:, :, ::2]
    case = Case(
        "s",
        "s-0",
        "crop_and_resize",
        "v2",
        {
            "image": img,
            "boxes": np.zeros((0, 4), np.float32),
            "box_indices": np.zeros(0, np.int32),
        },
        {"crop_size": [1, 1]},
        np.zeros((0, 1, 1, 1), np.float32),
        "exact",
    )
    write_suite(tmp_path, "s", [case], tf_version="x")
    back = load_suite(tmp_path / "s")[0].inputs["image"]
    assert back.dtype == np.dtype("<f4") and np.array_equal(back, img)


def test_bad_format_version(tmp_path):
    _, json_path = write_suite(tmp_path, "fmt_test", _make_cases(), tf_version="2.21.0")
    meta = json.loads(json_path.read_text())
    meta["format"] = 2
    json_path.write_text(json.dumps(meta))
    with pytest.raises(FixtureFormatError, match="unsupported fixture format 2"):
        load_suite(json_path)


def test_missing_and_corrupt_files(tmp_path):
    npz_path, json_path = write_suite(tmp_path, "fmt_test", _make_cases(), tf_version="2.21.0")
    good_npz = npz_path.read_bytes()

    npz_path.write_bytes(good_npz[:-10])
    with pytest.raises(FixtureFormatError, match="sha256"):
        load_suite(json_path)
    with pytest.raises(FixtureFormatError, match="cannot read archive"):
        load_suite(json_path, verify_hash=False)

    npz_path.write_bytes(good_npz)
    json_path.write_text("{not json")
    with pytest.raises(FixtureFormatError, match="not valid JSON"):
        load_suite(json_path)

    npz_path.unlink()
    with pytest.raises(FileNotFoundError, match=r"fmt_test\.npz"):
        load_suite(json_path)
    with pytest.raises(FixtureFormatError, match="only one of"):
        list_suites(tmp_path)


def test_sidecar_and_npz_must_agree(tmp_path):
    _, json_path = write_suite(tmp_path, "fmt_test", _make_cases(), tf_version="2.21.0")
    meta = json.loads(json_path.read_text())
    meta["cases"][0]["arrays"]["image"]["dtype"] = "float64"
    json_path.write_text(json.dumps(meta))
    with pytest.raises(FixtureFormatError, match="in the sidecar"):
        load_suite(json_path)
    meta["cases"][0]["arrays"]["image"]["dtype"] = "uint8"
    del meta["cases"][1]
    json_path.write_text(json.dumps(meta))
    with pytest.raises(FixtureFormatError, match="not described"):
        load_suite(json_path)


def test_case_validation(tmp_path):
    good = _make_cases()[0]
    fields = {k: getattr(good, k) for k in good.__dataclass_fields__}
    for bad, match in (
        ({"op": "resize"}, "unknown op"),
        ({"api": "v3"}, "api"),
        ({"check": "close"}, "check"),
        ({"id": "a/b"}, "case id"),
        ({"inputs": {"image": good.inputs["image"]}}, "needs inputs"),
        ({"check": "error"}, "expected=None"),
        ({"expected": None}, "expected array"),
        ({"error": {"tf_type": "X"}}, "only error cases"),
    ):
        with pytest.raises(FixtureFormatError, match=match):
            Case(**{**fields, **bad})
    with pytest.raises(FixtureFormatError, match="duplicate case id"):
        write_suite(tmp_path, "fmt_test", [good, good], tf_version="x")
    with pytest.raises(FixtureFormatError, match="belongs to suite"):
        write_suite(tmp_path, "other", [good], tf_version="x")
    unjsonable = Case(**{**fields, "params": {"x": object()}})  # checked when written
    with pytest.raises(FixtureFormatError, match="JSON-able"):
        write_suite(tmp_path, "fmt_test", [unjsonable], tf_version="x")


# ---------------------------------------------------------------------------------------
# the shipped fixtures


@pytest.fixture(scope="module")
def shipped():
    try:
        directory = default_fixture_dir()
    except FileNotFoundError:
        pytest.skip("no recorded fixtures")
    return load_all(directory)


def _tagged(cases, suite, tag):
    hits = [c for c in cases if c.suite == suite and c.description.startswith(f"[{tag}]")]
    assert len(hits) == 1, (suite, tag, len(hits))
    return hits[0]


def test_shipped_fixtures_load(shipped):
    suites = {c.suite for c in shipped}
    assert suites >= EXPECTED_SUITES
    keys = [c.key for c in shipped]
    assert len(keys) == len(set(keys))
    ids = [c.id for c in shipped]
    assert len(ids) == len(set(ids))
    assert 700 <= len(shipped) <= 1500
    meta = json.loads((default_fixture_dir() / "crop_edge.json").read_text())
    assert meta["tf_version"] == "2.21.0"


def test_shipped_fixtures_are_consistent(shipped):
    for c in shipped:
        if c.check == "error":
            assert c.error["tf_type"] and c.error["tf_message"], c
            continue
        if c.op.startswith("crop_and_resize_grad"):  # tools/record: t.pair rows
            n = len(c.inputs["boxes"])
            if c.op == "crop_and_resize_grad_boxes":
                assert c.expected.dtype == np.float32 and c.expected.shape == (n, 4), c
            else:
                assert c.expected.dtype.name == c.params["T"], c
                assert list(c.expected.shape) == c.params["image_shape"], c
            continue
        assert c.expected.dtype == np.float32, c  # TF output is always float32
        if c.op == "crop_and_resize":
            n, d = len(c.inputs["boxes"]), c.inputs["image"].shape[3]
            assert c.expected.shape == (n, *c.params["crop_size"], d), c
            assert c.inputs["boxes"].dtype == np.float32
            assert c.inputs["box_indices"].dtype == np.int32
            assert c.params["method"] in ("bilinear", "nearest")
        else:
            b, d = c.inputs["input"].shape[0], c.inputs["input"].shape[3]
            assert c.expected.shape == (b, *c.params["size"], d), c
            assert c.inputs["input"].dtype == np.float32
            assert c.inputs["offsets"].dtype == np.float32
    checks = {c.check for c in shipped}
    assert checks == {"exact", "fill_stats", "error"}
    dtypes = {c.inputs["image"].dtype.name for c in shipped if c.suite == "crop_dtypes"}
    assert dtypes == {
        *("uint8", "uint16", "int8", "int16", "int32", "int64"),
        *("float16", "float32", "float64"),
    }


# Values from tf-semantics.md §3 (themselves checked against TF 2.21 CPU).
SPEC_CROP = {
    "spec-2x2-1x1-bilinear": [[2.5]],
    "spec-2x2-1x1-nearest": [[4]],
    "spec-2x2-3x3-bilinear": [[1, 1.5, 2], [2, 2.5, 3], [3, 3.5, 4]],
    "spec-2x2-3x3-nearest": [[1, 2, 2], [3, 4, 4], [3, 4, 4]],
    "spec-2x2-flipped-bilinear": [[4, 3.5, 3], [3, 2.5, 2], [2, 1.5, 1]],
    "spec-2x2-outside-bilinear": [[-1, -1, -1], [-1, 1, 2], [-1, 3, 4]],
    "spec-1x5-nearest": [[0, 1, 1, 2, 2, 3, 3, 4, 4]],
    "spec-1x2-0.49999997": [[10]],  # pixel index 0 of [10, 20]
    "spec-3x3-1x1-0": [[4]],
    "spec-3x3-1x1-1": [[2.5]],
    "spec-3x3-1x1-2": [[4]],
    "spec-inf-00-bilinear": [[np.nan]],
}
SPEC_GLIMPSE = {
    ("glimpse_v2", "spec-g-00-nn"): [[0, 1, 2], [5, 6, 7], [10, 11, 12]],
    ("glimpse_v2", "spec-g-m1-cn"): [[0, 0, 0], [0, 0, 1], [0, 5, 6]],
    ("glimpse_v2", "spec-g-p1-cn"): [[18, 19, 0], [23, 24, 0], [0, 0, 0]],
    ("glimpse_v2", "spec-g-trunc-nn"): [[0, 0, 1], [0, 5, 6], [0, 10, 11]],
    ("glimpse_v2", "spec-g-seed"): [[4, 5], [7, 8]],
    ("glimpse_v1", "spec-g-v1"): [[6, 7, 8], [11, 12, 13], [16, 17, 18]],
}


@pytest.mark.parametrize("tag", sorted(SPEC_CROP))
def test_crop_edge_has_spec_values(shipped, tag):
    case = _tagged(shipped, "crop_edge", tag)
    got = case.expected[0, ..., 0]
    want = np.asarray(SPEC_CROP[tag], np.float32)
    assert got.shape == want.shape
    assert np.array_equal(got, want, equal_nan=True), (got, want)


def test_crop_edge_22x22_last_row_and_column(shipped):
    case = _tagged(shipped, "crop_edge", "spec-4x4-22x22-bilinear")
    ev = np.float32(case.params["extrapolation_value"])
    out = case.expected[0, ..., 0]
    assert np.all(out[-1] == ev) and np.all(out[:, -1] == ev) and np.all(out[:-1, :-1] != ev)


def test_crop_edge_int64_rounding(shipped):
    case = _tagged(shipped, "crop_edge", "spec-int64-nearest")
    assert case.inputs["image"].dtype == np.int64
    assert case.inputs["image"][0, 0, 0, 0] == 2**53 + 1
    assert case.expected[0, 0, 0, 0] == np.float32(2.0**53)


@pytest.mark.parametrize(("suite", "tag"), sorted(SPEC_GLIMPSE))
def test_glimpse_has_spec_values(shipped, suite, tag):
    case = _tagged(shipped, suite, tag)
    assert np.array_equal(case.expected[0, ..., 0], np.asarray(SPEC_GLIMPSE[suite, tag]))
