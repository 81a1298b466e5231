"""pytest view of xcrop's backend adapters: one param per backend, skipped with its
reason where the library (or a GPU) is missing."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from xcrop.conformance._adapters import ADAPTERS, Adapter, UnsupportedByBackend

__all__ = ["Backend", "backend_params", "check_jit_error", "gradient_pairs", "holds",
           "require_ffi"]

GRADIENT_SUITES = ("grad_edge", "grad_dtypes", "grad_random")


def gradient_pairs(suites: tuple[str, ...] = GRADIENT_SUITES) -> list[dict[str, Any]]:
    """The recorded gradient cases of ``suites`` (in that order), paired: one dict per
    recorded call, ``{"crop_and_resize_grad_image": case, "crop_and_resize_grad_boxes":
    case}`` (integer images have no image-gradient case)."""
    from xcrop.conformance import load_suite

    pairs: dict[tuple[str, int], dict[str, Any]] = {}
    for suite in suites:
        for case in load_suite(suite):
            pairs.setdefault((suite, case.params["pair"]), {})[case.op] = case
    return list(pairs.values())


def check_jit_error(raised: BaseException, case: Any) -> None:
    """What a jitted call of an error ``case`` must have raised: the eager call's exception
    type while tracing (a shape, dtype or argument error), or, for a value error found
    when the program runs, JAX's runtime error ending with the eager call's message."""
    import jax
    import jax.numpy as jnp

    from xcrop.conformance._runner import call_case, expected_exception

    eager_type = expected_exception(case)
    if isinstance(raised, eager_type):
        return
    # JaxRuntimeError from a first call, ValueError from JAX's C++ dispatch afterwards.
    assert isinstance(raised, (jax.errors.JaxRuntimeError, ValueError)), raised
    with pytest.raises(eager_type) as eager:
        call_case(case, jnp.asarray)
    assert str(raised).endswith(str(eager.value)), (raised, eager.value)


class Backend:
    """An :class:`Adapter` whose conversions skip the test for unsupported dtypes."""

    def __init__(self, adapter: Adapter) -> None:
        self.adapter = adapter
        self.name = adapter.name
        self.library = adapter.library
        self.device_kind = adapter.device_kind

    @property
    def xp(self) -> Any:
        return self.adapter.xp

    @property
    def device(self) -> Any:
        return self.adapter.device

    def asarray(self, a: np.ndarray) -> Any:
        try:
            return self.adapter.asarray(a)
        except UnsupportedByBackend as exc:
            pytest.skip(str(exc))

    def to_numpy(self, x: Any) -> np.ndarray:
        return self.adapter.to_numpy(x)

    def check_result(self, out: Any, like: Any) -> np.ndarray:
        """Assert ``out`` has ``like``'s library and device; return it as NumPy."""
        problem = self.adapter.same_kind(out, like)
        assert problem is None, problem
        return self.to_numpy(out)


def backend_params(only: tuple[str, ...] | None = None,
                   exclude: tuple[str, ...] = ()) -> list[Any]:
    """One param per backend (``only`` those named, none of ``exclude``); a backend that
    cannot run here (CuPy without a GPU) is skipped with its reason."""
    params = []
    for adapter in ADAPTERS:
        if (only is not None and adapter.name not in only) or adapter.name in exclude:
            continue
        reason = adapter.skip_reason()
        marks = [pytest.mark.skip(reason=reason)] if reason else []
        params.append(pytest.param(Backend(adapter), id=adapter.name, marks=marks))
    return params


def holds(adapter: Adapter, *values: Any) -> bool:
    """Whether the backend can hold every NumPy array among ``values`` (array-api-strict has
    no float16, JAX without x64 no 64-bit dtypes): combinations it cannot are not
    generated as tests at all."""
    return not any(adapter.unsupported_dtype(v.dtype) for v in values
                   if isinstance(v, np.ndarray))


def require_ffi() -> None:
    """Skip the calling test module unless the XLA FFI paths can run: JAX and numba."""
    pytest.importorskip("jax")
    from xcrop._backends.numba import loader

    if not loader.available():
        pytest.skip("numba is not installed (or XCROP_NO_NUMBA is set): the XLA FFI paths "
                    "run the numba kernels", allow_module_level=True)
