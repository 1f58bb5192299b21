"""Helpers shared by the benchmarks: run a measured step in its own process, and read its peak memory."""
from __future__ import annotations

import multiprocessing as mp
import resource
from typing import Any, Callable


def peak_mb() -> float:
    """Peak resident memory of this process so far, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def in_child(target: Callable[..., Any], *args: Any) -> Any:
    """Run one measured step in a fresh (forked) process so its peak memory is its own."""
    queue: mp.Queue = mp.Queue()
    proc = mp.get_context("fork").Process(target=lambda: queue.put(target(*args)))
    proc.start()
    result = queue.get()
    proc.join()
    return result
