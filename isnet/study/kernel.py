"""Notebook kernels that start one at a time on a host, so concurrent ``isnet study`` processes never share a port.

A Jupyter kernel manager picks five free TCP ports by binding and releasing them, writes them into the kernel's
connection file, and only then starts the kernel, which binds them again a second or two later (after its imports).
Two processes starting kernels in that window can be handed the same port: one kernel fails to bind, or a client
talks to the other process's kernel, and a notebook can wait forever (a known race in jupyter_client, reported for
papermill run in parallel). ``isnet study`` processes sharing a results folder start their first notebook at the
same moment, so they are exposed to it (a guard: the hang CI showed in that case was another cause, see
``driver._has_parameter``'s caller). ``SerialStartKernelManager`` holds a host-wide ``flock`` from choosing the ports until
the kernel answers (it has bound every port by then), and raises instead of hanging when it never answers.
"""
from __future__ import annotations

from pathlib import Path

from jupyter_client import AsyncKernelManager

from ..io import cache_dir, locked

READY_TIMEOUT_S = 120.0  # a kernel that has not answered by then is reported, not waited for


def start_lock_path() -> Path:
    """The lock every kernel start on this host (for this user) takes: in the isnet cache, beside the weights."""
    return cache_dir() / ".kernel-start.lock"


class SerialStartKernelManager(AsyncKernelManager):
    """``AsyncKernelManager`` whose ``start_kernel`` returns only once the kernel answers, under a host-wide lock."""

    async def start_kernel(self, **kw) -> None:  # type: ignore[override]
        with locked(start_lock_path()):
            await super().start_kernel(**kw)
            client = self.client()
            client.start_channels()
            try:
                await client.wait_for_ready(timeout=READY_TIMEOUT_S)
            except RuntimeError as e:  # timed out, or the kernel died while starting
                raise RuntimeError(f"the notebook kernel did not start within {READY_TIMEOUT_S:.0f} s ({e}); "
                                   "run the study again (it resumes at this notebook)") from e
            finally:
                client.stop_channels()
