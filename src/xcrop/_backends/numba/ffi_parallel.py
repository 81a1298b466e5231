"""One handler's work on XLA's intra-op thread pool: how the crop and glimpse handlers
(``ffi_crop``, ``ffi_glimpse``) use both cores of a CPU, as the eager path does with
xcrop's own pool (docs/performance.md, "Threads under jax.jit").

A handler splits its work into ``parts`` (:data:`PARTS_PER_THREAD` per thread of the
pool at most, each at least :data:`MIN_PART` output elements), schedules one task per
other thread on XLA's pool through the FFI (``XLA_FFI_ThreadPool_Schedule``), and then
works on parts itself. Every worker, the handler included, claims the next part with an
atomic counter until none is left, so a part is run exactly once whether or not a task
ever starts, and a task that starts late (a sleeping core takes milliseconds to wake on
a virtual machine) leaves the parts it missed to the others. The handler then waits for the
parts that others claimed, which are running, never for a task that has not started:
that is what keeps two handlers on a busy pool from waiting on each other. The shared
state is a small block on the heap, reference counted: a task that starts after the
handler returned finds nothing to claim, drops its reference, and the last one frees it.

A task is a numba ``@cfunc`` (``void(void*)``, one per target). XLA needs its address;
compiled code cannot carry a process's addresses (numba caches it on disk), so the
addresses live in a table under the C symbol :data:`TASKS_SYMBOL`, filled by
``ffi_handlers.handler`` when it compiles a target and read by the handler at run time.

State block, int64 words: ``references, next part, parts done, parts, call frame,
shared`` (the handler's per-call data for the parts, e.g. an array's address), then one
``XLA_FFI_Error*`` per part (0: the part succeeded).
"""

from __future__ import annotations

import ctypes
import platform
from typing import Any

import numba
import numpy as np
from llvmlite import binding as llvm
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from .xla_ffi import call_pointer, words

__all__ = ["MAX_TASKS", "MIN_PART", "PARTS_PER_THREAD", "TASKS_SYMBOL", "destroy_error",
           "drop", "join", "keep_alive", "parts_for", "parts_run_by_tasks", "published",
           "run", "serve", "set_task", "start", "task"]

#: The C symbol of the task table: int64 addresses, one slot per target with a task.
TASKS_SYMBOL = "xcrop_xla_ffi_tasks"
MAX_TASKS = 16
#: Fewest output elements worth a part of its own: below it, scheduling a task (a few
#: microseconds) and touching a second core's cache cost more than they save.
MIN_PART = 1 << 16
#: Parts per thread: more parts than threads let the threads that run share out the
#: work of one that starts late.
PARTS_PER_THREAD = 4

_REFS, _NEXT, _DONE, _PARTS, _FRAME, _SHARED, _ERRORS = 0, 1, 2, 3, 4, 5, 6
# XLA_FFI_Api words (c_api.h): XLA_FFI_Error_Destroy, XLA_FFI_ThreadPool_Schedule and
# XLA_FFI_ThreadPool_NumThreads; the struct must reach the last of them.
_ERROR_DESTROY, _SCHEDULE, _NUM_THREADS = 8, 17, 18
_API_WITH_POOL = (_NUM_THREADS + 1) * 8
_SCHEDULE_ARGS_SIZE = 40  # XLA_FFI_ThreadPool_Schedule_Args: size, ext, ctx, task, data
_NUM_THREADS_ARGS_SIZE = 32  # XLA_FFI_ThreadPool_NumThreads_Args: size, ext, ctx, out*
_ERROR_DESTROY_ARGS_SIZE = 24  # XLA_FFI_Error_Destroy_Args: size, ext, error

# The task table, and after it one counter: the parts that tasks (not handlers) ran.
_table = (ctypes.c_int64 * (MAX_TASKS + 1))()  # kept alive with the module
llvm.add_symbol(TASKS_SYMBOL, ctypes.addressof(_table))


def set_task(slot: int, address: int) -> None:
    """Publish the address of the task ``@cfunc`` of table slot ``slot`` (0: none, the
    handler then runs every part itself)."""
    _table[slot] = address


def published(slot: int) -> int:
    """The task address published in table slot ``slot`` (0: none)."""
    return int(_table[slot])


def parts_run_by_tasks() -> int:
    """How many parts tasks on XLA's pool have run in this process (a diagnostic: proof
    that calls really split over threads)."""
    return int(_table[MAX_TASKS])


@intrinsic
def _table_entry(typingctx: Any, slot: Any) -> Any:
    # The address of the table's word ``slot`` (an external global: resolved when the
    # code is loaded, so cached code finds this process's table).
    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        table = builder.module.globals.get(TASKS_SYMBOL)
        if table is None:
            table = ir.GlobalVariable(builder.module, ir.ArrayType(ir.IntType(64),
                                                                   MAX_TASKS + 1),
                                      TASKS_SYMBOL)
            table.linkage = "external"  # a declaration: add_symbol's table, not a new one
        entry = builder.gep(table, [ir.Constant(ir.IntType(32), 0), args[0]])
        return builder.ptrtoint(entry, ir.IntType(64))
    return types.int64(types.int64), codegen


@intrinsic
def keep_alive(typingctx: Any, value: Any) -> Any:
    """A use of ``value`` that does nothing: numba frees an array after its last use, so
    an array whose address the parts read (``run``'s ``shared``) must be used after
    ``run``."""
    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return context.get_dummy_value()
    return types.none(value), codegen


@intrinsic
def _atomic_add(typingctx: Any, addr: Any, value: Any) -> Any:
    # The word at ``addr`` += ``value``; the old value.
    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        ptr = builder.inttoptr(args[0], ir.IntType(64).as_pointer())
        return builder.atomic_rmw("add", ptr, args[1], "seq_cst")
    return types.int64(types.int64, types.int64), codegen


@intrinsic
def _atomic_load(typingctx: Any, addr: Any) -> Any:
    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        ptr = builder.inttoptr(args[0], ir.IntType(64).as_pointer())
        return builder.load_atomic(ptr, "seq_cst", 8)
    return types.int64(types.int64), codegen


_X86 = platform.machine().lower() in ("x86_64", "amd64", "i386", "i686")


@intrinsic
def _pause(typingctx: Any) -> Any:
    # A spin-wait hint to the core (x86 PAUSE); nothing elsewhere.
    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        if _X86:
            fn = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(ir.VoidType(), []), "llvm.x86.sse2.pause")
            builder.call(fn, [])
        return context.get_dummy_value()
    return types.none(), codegen


@intrinsic
def _allocate(typingctx: Any, nbytes: Any) -> Any:
    # numba's runtime allocator (malloc underneath; thread-safe): the address, 0 if none.
    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.ptrtoint(context.nrt.allocate(builder, args[0]), ir.IntType(64))
    return types.int64(types.int64), codegen


@intrinsic
def _release_block(typingctx: Any, addr: Any) -> Any:
    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        context.nrt.free(builder, builder.inttoptr(args[0], cgutils.voidptr_t))
        return context.get_dummy_value()
    return types.none(types.int64), codegen


@intrinsic
def _call_void(typingctx: Any, fn: Any, arg: Any) -> Any:
    # ``((void (*)(void*)) fn)(arg)``: XLA_FFI_Error_Destroy.
    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        i8p = ir.IntType(8).as_pointer()
        fnty = ir.FunctionType(ir.VoidType(), [i8p])
        builder.call(builder.inttoptr(args[0], fnty.as_pointer()),
                     [builder.inttoptr(args[1], i8p)])
        return context.get_dummy_value()
    return types.none(types.int64, types.int64), codegen


@numba.njit(cache=True)
def destroy_error(api: int, err: int) -> None:
    """Free an ``XLA_FFI_Error*`` that will not be returned (``XLA_FFI_Error_Destroy``)."""
    args = np.zeros(3, np.int64)
    args[0], args[2] = _ERROR_DESTROY_ARGS_SIZE, err
    _call_void(words(api, _ERROR_DESTROY + 1)[_ERROR_DESTROY], args.ctypes.data)


@numba.njit(cache=True)
def parts_for(api: int, ctx: int, work: int) -> int:
    """``(parts, tasks)``: how many parts to split ``work`` output elements into
    (:data:`PARTS_PER_THREAD` per thread of the pool at most, :data:`MIN_PART` elements
    each at least) and how many tasks to schedule (one per other thread); ``(1, 0)``
    where XLA offers no pool."""
    most = work // MIN_PART
    if most < 2 or words(api, 1)[0] < _API_WITH_POOL:
        return 1, 0
    threads = np.zeros(1, np.int64)
    args = np.zeros(4, np.int64)
    args[0], args[2], args[3] = _NUM_THREADS_ARGS_SIZE, ctx, threads.ctypes.data
    err = call_pointer(words(api, _NUM_THREADS + 1)[_NUM_THREADS], args.ctypes.data)
    if err != 0:
        destroy_error(api, err)
        return 1, 0
    parts = max(1, min(threads[0] * PARTS_PER_THREAD, most))
    return parts, max(0, min(threads[0], parts) - 1)


@numba.njit(cache=True)
def start(api: int, ctx: int, frame_addr: int, shared: int, slot: int, parts: int,
          tasks: int) -> int:
    """The state block of a call split into ``parts`` (> 1), with ``tasks`` tasks of table
    slot ``slot`` scheduled on XLA's pool; 0 if no block could be allocated (then the
    handler runs serially). ``shared`` is passed to every part."""
    state_addr = _allocate((_ERRORS + parts) * 8)
    if state_addr == 0:
        return 0
    state = words(state_addr, _ERRORS + parts)
    state[:] = 0
    state[_REFS] = 1
    state[_PARTS] = parts
    state[_FRAME] = frame_addr
    state[_SHARED] = shared
    task = _atomic_load(_table_entry(slot))
    if task == 0:
        return state_addr  # no task published: the handler claims every part itself
    args = np.zeros(5, np.int64)
    args[0], args[2], args[3], args[4] = _SCHEDULE_ARGS_SIZE, ctx, task, state_addr
    schedule = words(api, _SCHEDULE + 1)[_SCHEDULE]
    for _ in range(tasks):
        _atomic_add(state_addr + _REFS * 8, 1)
        err = call_pointer(schedule, args.ctypes.data)
        if err != 0:  # no pool after all: the parts left are the handler's
            _atomic_add(state_addr + _REFS * 8, -1)
            destroy_error(api, err)
            break
    return state_addr


@numba.njit(inline="always")
def serve(state_addr: int, work: Any, args: Any) -> int:
    """Claim and run parts until none is left: ``work(frame_addr, shared, part, parts,
    *args)``
    returns 0 or the part's ``XLA_FFI_Error*``, kept in the state block. Returns how
    many parts this worker ran."""
    state = words(state_addr, _ERRORS)
    frame_addr, parts = state[_FRAME], state[_PARTS]
    errors = words(state_addr + _ERRORS * 8, parts)
    ran = 0
    part = _atomic_add(state_addr + _NEXT * 8, 1)
    while part < parts:
        errors[part] = work(frame_addr, state[_SHARED], part, parts, *args)
        _atomic_add(state_addr + _DONE * 8, 1)  # after the error's store (seq_cst)
        ran += 1
        part = _atomic_add(state_addr + _NEXT * 8, 1)
    return ran


@numba.njit(cache=True)
def drop(state_addr: int) -> None:
    """Give up one reference to the state block; the last one frees it."""
    if _atomic_add(state_addr + _REFS * 8, -1) == 1:
        _release_block(state_addr)


@numba.njit(cache=True)
def join(api: int, state_addr: int) -> int:
    """Wait for every part (the ones still running were claimed by started tasks), drop
    the handler's reference, and return the error of the first part that failed (the
    others' are destroyed), or 0."""
    parts = words(state_addr, _ERRORS)[_PARTS]
    while _atomic_load(state_addr + _DONE * 8) < parts:
        _pause()
    errors = words(state_addr + _ERRORS * 8, parts)
    first = 0
    for part in range(parts):
        if errors[part] != 0:
            if first == 0:
                first = errors[part]
            else:
                destroy_error(api, errors[part])
    drop(state_addr)
    return first


@numba.njit(inline="always")
def run(api: int, ctx: int, frame_addr: int, shared: int, slot: int, work_size: int,
        work: Any, args: Any) -> int:
    """A handler's whole call: ``work(frame_addr, shared, part, parts, *args)`` over the
    parts of ``work_size`` output elements, on XLA's pool where it has one (the task of
    table slot ``slot``); 0 or the first failing part's error."""
    parts, tasks = parts_for(api, ctx, work_size)
    state_addr = start(api, ctx, frame_addr, shared, slot, parts, tasks) if parts > 1 else 0
    if state_addr == 0:
        return work(frame_addr, shared, 0, 1, *args)
    serve(state_addr, work, args)
    return join(api, state_addr)


@numba.njit(inline="always")
def task(data_addr: int, work: Any, args: Any) -> None:
    """A task's whole call (on a pool thread): serve, then drop its reference."""
    _atomic_add(_table_entry(MAX_TASKS), serve(data_addr, work, args))
    drop(data_addr)
