"""Reports of the conformance CLI: text tables, JUnit XML and JSON helpers."""

from __future__ import annotations

import math
import platform
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._impl import CATEGORIES, ImplCaseResult

__all__ = [
    "NAN_ULP",
    "Row",
    "finite",
    "format_table",
    "impl_category_totals",
    "impl_table",
    "json_default",
    "write_junit",
    "xcrop_table",
]

NAN_ULP = 2**62  # ulp distances at or above this mean a NaN placement mismatch


@dataclass
class Row:
    """Aggregate of one backend x path x operation group."""

    backend: str
    path: str
    op: str
    cases: int = 0
    exact: int = 0
    within_bound: int = 0
    failed: int = 0
    skipped: int = 0
    worst_ulp: int = 0
    seconds: float = 0.0
    skip_reasons: dict[str, int] = field(default_factory=dict)

    @property
    def passed(self) -> int:
        return self.exact + self.within_bound


def _ulp_text(u: int) -> str:
    return "NaN" if u >= NAN_ULP else ("-" if u < 0 else str(u))


def _is_number(c: str) -> bool:
    return c in ("NaN", "inf") or c.replace(".", "").replace("-", "").replace("e", "") \
        .replace("+", "").isdigit()


def format_table(head: tuple[str, ...], lines: list[tuple[str, ...]]) -> str:
    """Right-align the columns whose cells are all numbers (or "-"/empty), left-align text."""
    allrows = [head, *lines]
    widths = [max(len(r[i]) for r in allrows) for i in range(len(head))]
    numeric = [all(_is_number(r[i]) or r[i] in ("", "-") for r in lines) and
               any(_is_number(r[i]) for r in lines) for i in range(len(head))]
    out = []
    for j, line in enumerate(allrows):
        cells = [c.rjust(w) if j > 0 and num else c.ljust(w)
                 for c, w, num in zip(line, widths, numeric, strict=True)]
        out.append("  ".join(cells).rstrip())
        if j == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def xcrop_table(rows: list[Row]) -> str:
    head = ("backend", "path", "operation", "cases", "passed", "bit-exact", "skipped",
            "failed", "worst ulp", "time [s]")
    lines = [(r.backend, r.path, r.op, str(r.cases), str(r.passed), str(r.exact),
              str(r.skipped), str(r.failed), _ulp_text(r.worst_ulp) if r.passed else "-",
              f"{r.seconds:.1f}") for r in rows]
    return format_table(head, lines)


def write_junit(path: Path, suites: dict[str, list[tuple[str, str, str, str, float]]],
                properties: dict[str, str]) -> None:
    """Write JUnit XML. ``suites`` maps a testsuite name to testcases
    ``(classname, name, status, message, seconds)`` with status ``passed``, ``failed`` or
    ``skipped``."""
    root = ET.Element("testsuites", name="xcrop conformance")
    total = {"tests": 0, "failures": 0, "skipped": 0, "time": 0.0}
    for suite_name, cases in suites.items():
        n_fail = sum(1 for c in cases if c[2] == "failed")
        n_skip = sum(1 for c in cases if c[2] == "skipped")
        secs = sum(c[4] for c in cases)
        ts = ET.SubElement(root, "testsuite", name=suite_name, tests=str(len(cases)),
                           failures=str(n_fail), errors="0", skipped=str(n_skip),
                           time=f"{secs:.3f}", hostname=platform.node() or "localhost")
        props = ET.SubElement(ts, "properties")
        for k, v in properties.items():
            ET.SubElement(props, "property", name=k, value=v)
        for classname, name, status, message, seconds in cases:
            tc = ET.SubElement(ts, "testcase", classname=classname, name=name,
                               time=f"{seconds:.4f}")
            if status == "failed":
                first = message.splitlines()[0] if message else "failed"
                ET.SubElement(tc, "failure", message=first[:500],
                              type="ConformanceFailure").text = message
            elif status == "skipped":
                ET.SubElement(tc, "skipped", message=message or "skipped")
        total["tests"] += len(cases)
        total["failures"] += n_fail
        total["skipped"] += n_skip
        total["time"] += secs
    root.set("tests", str(total["tests"]))
    root.set("failures", str(total["failures"]))
    root.set("errors", "0")
    root.set("skipped", str(total["skipped"]))
    root.set("time", f"{total['time']:.3f}")
    ET.indent(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)


def json_default(o: Any) -> Any:
    if isinstance(o, float) and not math.isfinite(o):
        return str(o)
    raise TypeError(type(o).__name__)


def finite(x: float) -> float | str:
    return x if math.isfinite(x) else str(x)


def impl_table(results: list[ImplCaseResult]) -> str:
    """Per suite and box category: boxes, bit-exact boxes, unsupported, worst errors."""
    agg: dict[tuple[str, str], list[Any]] = {}
    for r in results:
        for cat, st in r.per_category.items():
            a = agg.setdefault((r.case.suite, cat), [0, 0, 0, 0, 0.0, 0])
            a[0] += st.boxes
            if r.status == "unsupported":
                a[2] += st.boxes
                continue
            a[1] += st.passed
            a[3] += st.boxes - st.passed
            a[4] = max(a[4], st.worst_abs)
            a[5] = max(a[5], st.worst_ulp) if st.worst_ulp >= 0 else NAN_ULP
    order = {c: i for i, c in enumerate(CATEGORIES)}
    lines = []
    for (suite, cat), (n, ok, uns, bad, wabs, wulp) in sorted(
            agg.items(), key=lambda kv: (kv[0][0], order.get(kv[0][1], 99))):
        checked = n - uns
        lines.append((suite, cat, str(n), str(ok), str(bad), str(uns),
                      f"{wabs:.3g}" if checked and cat != "invalid input" else "-",
                      _ulp_text(wulp) if checked and cat != "invalid input" else "-"))
    head = ("suite", "category", "boxes", "bit-exact", "deviating", "unsupported",
            "worst abs", "worst ulp")
    return format_table(head, lines)


def impl_category_totals(results: list[ImplCaseResult]) -> dict[str, dict[str, Any]]:
    tot: dict[str, dict[str, Any]] = {}
    for r in results:
        for cat, st in r.per_category.items():
            t = tot.setdefault(cat, {"boxes": 0, "bit_exact": 0, "deviating": 0,
                                     "unsupported": 0, "worst_abs": 0.0, "worst_ulp": 0})
            t["boxes"] += st.boxes
            if r.status == "unsupported":
                t["unsupported"] += st.boxes
                continue
            t["bit_exact"] += st.passed
            t["deviating"] += st.boxes - st.passed
            t["worst_abs"] = max(t["worst_abs"], st.worst_abs)
            t["worst_ulp"] = max(t["worst_ulp"], st.worst_ulp)
    for t in tot.values():
        t["worst_abs"] = finite(t["worst_abs"])
    return tot
