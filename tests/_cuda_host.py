"""Shared helpers of the GPU-less CUDA kernel tests (test_cuda_source.py,
test_cuda_gradients_source.py): finding nvcc and a C++ compiler, compiling xcrop's kernel
source to PTX, and building it as host C++ behind ``_cuda_host_shim.h`` to run the kernels
on NumPy buffers through ctypes, one call per emulated (block, thread).
"""

from __future__ import annotations

import ctypes
import glob
import os
import platform
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from xcrop._backends.cuda import paths as cupy_paths

TESTS_DIR = Path(__file__).resolve().parent
SHIM = TESTS_DIR / "_cuda_host_shim.h"
# Emulated launch geometry: grid-stride loops must cover each element exactly once.
GRID, BLOCK = 2, 3

FORWARD_KERNELS = sorted(
    [f"xcrop_crop_{m}_{k}" for m in ("bilinear", "nearest")
     for k in cupy_paths.CROP_IMAGE_DTYPES] + ["xcrop_extract_glimpse"]
)
GRADIENT_KERNELS = sorted(
    [f"xcrop_grad_image_{m}_{k}" for m in ("bilinear", "nearest")
     for k in ("float16", "float32", "float64")]
    + [f"xcrop_grad_boxes_{k}" for k in cupy_paths.CROP_IMAGE_DTYPES]
)
#: Every kernel xcrop can launch (every entry point of ``kernel_source()``).
ALL_KERNELS = sorted(FORWARD_KERNELS + GRADIENT_KERNELS)
#: A fused multiply-add in PTX (rounds a * b + c once where TF rounds twice).
FUSED = re.compile(r"^\s*(?:fma|mad)\.[\w.]*f(?:32|64)\b.*$", re.MULTILINE)


def find_nvcc() -> str | None:
    found = shutil.which("nvcc")
    if found:
        return found
    for candidate in ["/usr/local/cuda/bin/nvcc", *sorted(glob.glob("/usr/local/cuda*/bin/nvcc"))]:
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def find_cxx() -> str | None:
    for name in ("g++", "c++", "clang++"):
        found = shutil.which(name)
        if found:
            return found
    return None


def run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


def require_nvcc() -> str:
    nvcc = find_nvcc()
    if nvcc is None:
        pytest.skip("nvcc not found on PATH or under /usr/local/cuda*/bin: CUDA source "
                    "compile check skipped")
    return nvcc


def compile_ptx(work: Path, source: str | None = None) -> str:
    """PTX of ``source`` (default: the text CuPy hands to NVRTC) with nvcc's defaults
    (--fmad=true) plus CuPy's -ftz=true: the intrinsics, not the flags, must keep every
    float operation separately rounded."""
    nvcc = require_nvcc()
    (work / "kernels.cu").write_text(
        cupy_paths.kernel_source() if source is None else source, encoding="utf-8")
    run([nvcc, "-arch=compute_75", "--ptx", "-ftz=true", "-std=c++14", "kernels.cu",
         "-o", "kernels.ptx"], work)
    return (work / "kernels.ptx").read_text()


def ptx_entries(ptx: str) -> dict[str, str]:
    """Each ``.entry``'s name -> its PTX text (up to the next entry)."""
    starts = [(m.start(), m.group(1)) for m in re.finditer(r"\.entry\s+(\w+)\s*\(", ptx)]
    ends = [s for s, _ in starts[1:]] + [len(ptx)]
    return {name: ptx[s:e] for (s, name), e in zip(starts, ends, strict=True)}


_C_SCALARS = {
    "long long": (ctypes.c_longlong, np.int64),
    "int": (ctypes.c_int, np.int32),
    "unsigned int": (ctypes.c_uint, np.uint32),
    "float": (ctypes.c_float, np.float32),
}
_C_POINTEES = {
    "unsigned char": np.uint8, "signed char": np.int8, "unsigned short": np.uint16,
    "short": np.int16, "int": np.int32, "long long": np.int64, "float": np.float32,
    "double": np.float64,
}  # fmt: skip


def parse_param(param: str) -> tuple[str, Any]:
    """('pointer', numpy dtype) or ('scalar', C type name) of one C parameter."""
    text = re.sub(r"\b(const|__restrict)\b", " ", param)
    text = " ".join(text.replace("*", " * ").split())
    words = text.split(" ")[:-1]  # drop the parameter name
    if words and words[-1] == "*":
        return "pointer", np.dtype(_C_POINTEES[" ".join(words[:-1])])
    return "scalar", " ".join(words)


class HostKernels:
    """The shared library built from the kernel source, plus its parsed signatures."""

    def __init__(self, lib: ctypes.CDLL, signatures: dict[str, list[tuple[str, Any]]]):
        self.lib = lib
        self.signatures = signatures
        lib.xcrop_shim_set_thread.argtypes = [ctypes.c_uint] * 4
        lib.xcrop_shim_set_ftz.argtypes = [ctypes.c_int]
        lib.xcrop_shim_set_ftz.restype = ctypes.c_uint
        lib.xcrop_shim_restore_csr.argtypes = [ctypes.c_uint]
        self.ftz = False
        self.launches: list[str] = []

    def launch(self, call: cupy_paths.KernelCall) -> None:
        """Run ``call`` on the host: once per emulated (block, thread), checking every
        argument against the kernel's C parameter."""
        params = self.signatures[call.name]
        assert len(params) == len(call.args), f"{call.name}: argument count"
        cargs = []
        for i, ((kind, ctype), value) in enumerate(zip(params, call.args, strict=True)):
            where = f"{call.name} argument {i}"
            if kind == "pointer":
                assert isinstance(value, np.ndarray), f"{where}: expected an array"
                assert value.dtype == ctype, f"{where}: dtype {value.dtype}, C wants {ctype}"
                assert value.flags.c_contiguous, f"{where}: not C-contiguous"
                cargs.append(ctypes.c_void_p(value.ctypes.data))
            else:
                c_type, np_type = _C_SCALARS[ctype]
                assert type(value) is np_type, (
                    f"{where}: {type(value).__name__}, C wants {ctype} ({np_type.__name__})")
                cargs.append(c_type(value.item()))
        fn = getattr(self.lib, call.name)
        fn.restype = None
        csr = self.lib.xcrop_shim_set_ftz(int(self.ftz))
        try:
            for block in range(GRID):
                for thread in range(BLOCK):
                    self.lib.xcrop_shim_set_thread(GRID, BLOCK, block, thread)
                    fn(*cargs)
        finally:
            self.lib.xcrop_shim_restore_csr(csr)
        self.launches.append(call.name)


def build_host_kernels(work: Path, extra: str = "") -> HostKernels:
    """The kernel source (plus ``extra`` C++ appended, e.g. test-only wrappers named
    ``xcrop_test_*``) compiled as a host shared library; skips where that cannot run."""
    cxx = find_cxx()
    if cxx is None:
        pytest.skip("no C++ compiler (g++/c++/clang++) on PATH: host run of the CUDA "
                    "kernels skipped")
    if platform.machine().lower() not in ("x86_64", "amd64"):
        pytest.skip(f"the host shim emulates CUDA arithmetic with x86-64 SSE; this machine "
                    f"is {platform.machine()}")
    (work / "kernels.cu").write_text(cupy_paths.kernel_source() + extra, encoding="utf-8")
    (work / "host.cpp").write_text(
        f'#include "{SHIM.name}"\n#include "kernels.cu"\n', encoding="utf-8")
    flags = ["-std=c++14", "-O2", "-ffp-contract=off", "-fno-fast-math", "-msse2",
             "-mfpmath=sse", "-fPIC", f"-I{TESTS_DIR}"]
    pre = run([cxx, *flags, "-E", "-P", "host.cpp"], work).stdout
    signatures = {}
    for name, params in re.findall(r'extern\s+"C"\s+void\s+(xcrop_\w+)\s*\(([^)]*)\)', pre):
        if not name.startswith(("xcrop_shim_", "xcrop_test_")):
            signatures[name] = [parse_param(p) for p in params.split(",")]
    run([cxx, *flags, "-shared", "host.cpp", "-o", "libxcrop_host.so"], work)
    return HostKernels(ctypes.CDLL(str(work / "libxcrop_host.so")), signatures)
