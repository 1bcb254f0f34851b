"""Run ``shakedown`` with a probe inside: where its memory goes and which requests it makes.

``bench/scale.py --probe`` starts the operator through this script instead of
``python -m shakedown``. It counts every API request by verb and resource,
from both clients the operator has (the kubernetes client's urllib3 pool, and
kopf's aiohttp session). On each SIGUSR1 it writes ``$OPPROBE_OUT-<k>.json``
(k = 1, 2, ...): the requests so far, and the bytes reachable from each of a
few roots (``sys.getsizeof`` over ``gc.get_referents``, each object charged
to the first root that reaches it: modules, our runner registry's bodies,
runners, tasks and wake-ups, kopf's per-object memories, the asyncio tasks,
prometheus_client), then the rest by type. ``OPPROBE_FRAMES=N`` also traces
allocations (``tracemalloc``, N frames), grouped by the first frame in
shakedown, kopf, the kubernetes client, prometheus_client or pydantic.

Both see what Python holds; RSS also has the interpreter, the C libraries and
glibc's free-but-kept pages.
"""

from __future__ import annotations

import collections
import ctypes
import gc
import json
import os
import re
import runpy
import signal
import sys
import threading
import tracemalloc
import types
from pathlib import Path
from types import FrameType
from typing import Any

#: Frames per tracemalloc trace; 0 (the default) leaves tracemalloc off: it slows a
#: start with hundreds of objects many times over.
FRAMES = int(os.environ.get("OPPROBE_FRAMES", "0"))
OUT = os.environ.get("OPPROBE_OUT", "opprobe")
#: The first frame from one of these (innermost first) is the one a trace is charged to.
OWNERS = ("/shakedown/", "/kopf/", "/kubernetes/", "/prometheus_client/", "/pydantic/")

_requests: collections.Counter[str] = collections.Counter()
_lock = threading.Lock()
_dumps = [0]
_garbage = [0]
_PATH = re.compile(r"^/(?:api/v1|apis/[^/]+/[^/]+)(?:/namespaces/(?P<ns>[^/]+))?(?P<rest>/.*)?$")


def _what(method: str, url: str) -> str:
    """``GET leases (one)``, ``LIST jobs``, ``WATCH pods``, ``PATCH infrarollouts/status``."""
    path, _, query = url.partition("?")
    if "://" in path:
        path = "/" + path.split("://", 1)[1].partition("/")[2]
    match = _PATH.match(path)
    if not match:
        return f"{method} {path}"
    parts = [p for p in (match.group("rest") or "").split("/") if p]
    if not parts:  # /api/v1/namespaces/X itself
        return f"{method} namespaces (one)" if match.group("ns") else f"{method} {path}"
    resource = parts[0] + ("/" + parts[2] if len(parts) > 2 else "")
    if method == "GET" and len(parts) == 1:
        method = "WATCH" if "watch=" in query else "LIST"
    return f"{method} {resource}" + (" (one)" if method == "GET" else "")


def _count(method: str, url: str) -> None:
    with _lock:
        _requests[_what(method.upper(), str(url))] += 1


def _patch_clients() -> None:
    import urllib3

    original = urllib3.PoolManager.urlopen

    def urlopen(self: Any, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        _count(method, url)
        return original(self, method, url, *args, **kwargs)

    urllib3.PoolManager.urlopen = urlopen  # type: ignore[method-assign]

    import aiohttp

    request = aiohttp.ClientSession._request

    async def _request(self: Any, method: str, url: Any, *args: Any, **kwargs: Any) -> Any:
        params = kwargs.get("params") or {}
        suffix = "?watch=true" if isinstance(params, dict) and params.get("watch") else ""
        _count(method, str(url) + suffix)
        return await request(self, method, url, *args, **kwargs)

    aiohttp.ClientSession._request = _request  # type: ignore[method-assign,assignment]


def _owner(trace: tracemalloc.Traceback) -> str:
    for frame in trace:  # most recent first
        for owner in OWNERS:
            if owner in frame.filename:
                short = frame.filename.rpartition(owner)[2]
                return f"{owner.strip('/')}/{short}:{frame.lineno}"
    return f"{trace[0].filename}:{trace[0].lineno}"


def _traced() -> dict[str, Any]:
    snapshot = tracemalloc.take_snapshot().filter_traces(
        [tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, __file__)]
    )
    by_owner: collections.Counter[str] = collections.Counter()
    stats = snapshot.statistics("traceback")
    for stat in stats:
        by_owner[_owner(stat.traceback)] += stat.size
    return {
        "traced_mib": round(sum(by_owner.values()) / 2**20, 1),
        "by_owner_kib": [{"where": k, "kib": round(v / 1024)} for k, v in by_owner.most_common(40)],
        "top_tracebacks": [
            {"kib": round(s.size / 1024), "blocks": s.count, "stack": s.traceback.format()[-24:]}
            for s in stats[:15]
        ],
    }


#: Bytes of bytearrays by the type of the object that holds them.
_BUFFER_HOLDERS: collections.Counter[str] = collections.Counter()
_STOP = (types.ModuleType, type, types.FunctionType, types.BuiltinFunctionType, types.CodeType)


def _walk(
    roots: list[Any], seen: set[int], by_type: collections.Counter[str] | None = None
) -> tuple[int, int]:
    """Bytes and objects reachable from ``roots`` not seen before (``seen`` grows)."""
    size = count = 0
    root_ids = {id(r) for r in roots}
    stack = [r for r in roots if id(r) not in seen]
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        size += sys.getsizeof(obj, 0)
        count += 1
        if by_type is not None:
            by_type[_type_name(obj)] += sys.getsizeof(obj, 0)
        if isinstance(obj, _STOP) and id(obj) not in root_ids:
            continue  # a module, class or function reached is shared, not this root's
        for r in gc.get_referents(obj):
            if id(r) not in seen:
                stack.append(r)
                if isinstance(r, bytearray):
                    _BUFFER_HOLDERS[_type_name(obj)] += len(r)
    return size, count


def _type_name(obj: object) -> str:
    kind = type(obj)
    return f"{getattr(kind, '__module__', '?')!s}.{getattr(kind, '__qualname__', '?')!s}"


def _retained() -> dict[str, Any]:
    """Bytes reachable from each root, in order: a root is charged only what no earlier one
    reached. Modules first (what an empty operator holds too), then our registry, kopf's
    per-object memories, the running tasks, and the metrics registry."""
    _garbage[0] = gc.collect()
    seen: set[int] = set()
    everything = gc.get_objects()
    seen.update((id(everything), id(seen)))
    roots: dict[str, list[Any]] = {}
    runners = [o for o in everything if type(o).__name__ == "Runners"]
    for field in ("_kube", "bodies", "_runners", "_tasks", "wakers"):
        roots[f"Runners.{field}"] = [getattr(r, field) for r in runners]
    roots["kopf memories"] = [o for o in everything if type(o).__name__ == "ResourceMemories"]
    import asyncio

    tasks = []
    for loop in [o for o in everything if isinstance(o, asyncio.AbstractEventLoop)]:
        tasks += list(asyncio.all_tasks(loop))
    roots["asyncio tasks (their frames)"] = tasks
    roots["prometheus_client"] = [
        m for name, m in sys.modules.items() if name.startswith("prometheus_client")
    ]
    roots["modules (no classes/functions walked)"] = list(sys.modules.values())
    out: dict[str, Any] = {}
    for name, found in roots.items():
        by_type: collections.Counter[str] = collections.Counter()
        size, count = _walk(found, seen, by_type)
        out[name] = {
            "mib": round(size / 2**20, 1),
            "objects": count,
            "types_kib": {k: round(v / 1024) for k, v in by_type.most_common(12)},
        }
    rest: collections.Counter[str] = collections.Counter()
    rest_n: collections.Counter[str] = collections.Counter()
    for obj in everything:
        if id(obj) not in seen:
            size, count = _walk([obj], seen)
            rest[_type_name(obj)] += size
            rest_n[_type_name(obj)] += count
    out["unreached, by type of the gc-tracked object"] = [
        {"type": k, "kib": round(v / 1024), "objects": rest_n[k]} for k, v in rest.most_common(25)
    ]
    out["bytearrays, by the type holding them"] = {
        k: round(v / 1024) for k, v in _BUFFER_HOLDERS.most_common(10)
    }
    _BUFFER_HOLDERS.clear()
    types_all: collections.Counter[str] = collections.Counter()
    for obj in everything:
        types_all[_type_name(obj)] += 1
    out["gc-tracked objects by type"] = dict(types_all.most_common(30))
    return out


class _Mallinfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


def _memory() -> dict[str, Any]:
    """RSS and its peak (/proc), glibc's heap (mallinfo2) and pymalloc's arenas, in MiB."""
    out: dict[str, Any] = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
            out[key] = round(int(value.split()[0]) / 1024, 1)
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = _Mallinfo2
        info = libc.mallinfo2()
        out["glibc"] = {
            "heap (sbrk+arenas)": round(info.arena / 2**20, 1),
            "mmapped": round(info.hblkhd / 2**20, 1),
            "in use": round(info.uordblks / 2**20, 1),
            "free kept": round(info.fordblks / 2**20, 1),
        }
    except (OSError, AttributeError):
        pass
    arenas = sys._debugmallocstats  # prints to stderr: the operator's log
    arenas()
    return out


def _dump(signum: int, frame: FrameType | None) -> None:
    report: dict[str, Any] = {"requests": dict(_requests.most_common()), "memory": _memory()}
    try:
        report["retained"] = _retained()
    except Exception as exc:  # a probe that fails says so instead of stopping the operator
        report["retained"] = {"error": repr(exc)}
    # Garbage in cycles that no collection reached yet holds pymalloc's pools too.
    report["garbage collected"] = _garbage[0]
    report["memory after gc"] = _memory()
    if FRAMES:
        report.update(_traced())
    _dumps[0] += 1
    path = f"{OUT}-{_dumps[0]}.json"
    with open(path + ".tmp", "w") as out:
        json.dump(report, out, indent=1)
    os.replace(path + ".tmp", path)


def main() -> None:
    if FRAMES:
        tracemalloc.start(FRAMES)
    _patch_clients()
    signal.signal(signal.SIGUSR1, _dump)
    sys.argv = ["shakedown", *sys.argv[1:]]
    runpy.run_module("shakedown", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
