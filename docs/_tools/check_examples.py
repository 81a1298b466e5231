"""Run the Python examples of the docs pages and compare their output with the page.

    python docs/_tools/check_examples.py [PAGE.md ...]   # default: every page we check

An example is a fenced ``python`` block followed directly by a fenced ``text`` block: the
block runs in a fresh namespace and what it prints must equal the ``text`` block (trailing
spaces ignored). A ``python`` block without a ``text`` block after it is not run (it is a
fragment, such as a signature). A block whose first line starts with ``# not run`` is
skipped. Exit status 1 on any mismatch, listing each one.

An example that needs a library that is not installed (``ModuleNotFoundError``) is
reported as skipped, with the reason, rather than failed.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools
import re
import sys
import time
import traceback
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1]
# Pages whose examples are ours to keep true (performance.md and reliability.md belong to
# other parts of the project and hold fragments, not examples with their output).
PAGES = ("index.md", "getting_started.md", "migration.md", "quirks.md", "semantics.md",
         "conformance.md", "datasets.md")
FENCE = re.compile(r"^```(\w*)\s*$")


def examples(path: Path) -> list[tuple[int, str, str]]:
    """``(line, code, expected output)`` for each python block followed by a text block."""
    blocks: list[tuple[int, str, str, int]] = []  # (start line, language, body, end line)
    lines = path.read_text().splitlines()
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if m and m.group(1):
            start, lang, body = i, m.group(1), []
            i += 1
            while i < len(lines) and lines[i].rstrip() != "```":
                body.append(lines[i])
                i += 1
            blocks.append((start + 1, lang, "\n".join(body), i))
        i += 1
    found = []
    for (line, lang, body, end), nxt in itertools.pairwise(blocks):
        adjacent = all(not s.strip() for s in lines[end + 1:nxt[0] - 1])
        if lang == "python" and nxt[1] == "text" and adjacent:
            found.append((line, body, nxt[2]))
    return found


def run(code: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "<example>", "exec"), {"__name__": "__example__"})
    return out.getvalue()


def _normalize(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.strip("\n").splitlines())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("pages", nargs="*", help=f"pages to check (default: {', '.join(PAGES)})")
    opts = p.parse_args(argv)
    pages = [Path(x) for x in opts.pages] or [DOCS / name for name in PAGES]
    failures, ran, skipped = [], 0, []
    for page in pages:
        for line, code, expected in examples(page):
            where = f"{page.name}:{line}"
            if code.lstrip().startswith("# not run"):
                skipped.append(f"{where}: marked '# not run'")
                continue
            start = time.perf_counter()
            try:
                got = run(code)
            except ModuleNotFoundError as exc:
                skipped.append(f"{where}: needs {exc.name}, which is not installed")
                continue
            except Exception:
                failures.append(f"{where}: raised\n{traceback.format_exc(limit=3)}")
                continue
            ran += 1
            if _normalize(got) != _normalize(expected):
                failures.append(f"{where}: output differs\n--- page\n{expected}\n--- got\n"
                                f"{got}")
            print(f"ok   {where} ({time.perf_counter() - start:.1f} s)" if
                  _normalize(got) == _normalize(expected) else f"FAIL {where}")
    for s in skipped:
        print(f"skip {s}")
    for f in failures:
        print(f"\nFAIL {f}", file=sys.stderr)
    print(f"{ran} examples run, {len(failures)} failed, {len(skipped)} skipped")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
