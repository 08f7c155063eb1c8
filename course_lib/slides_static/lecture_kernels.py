"""Voilà kernel manager for presenting one lecture: its kernel is executed before anyone opens the slides,
and never more than one kernel runs it.

Voilà 0.5's pre-heating (``--preheat_kernel=True``) executes the notebook at server start and hands the
finished page to the first visitor; but then it immediately starts a spare kernel that executes the whole
lecture again for the next visitor, which on a laptop doubles the work while the lecture begins. This
manager keeps Voilà's pool, but sizes it by what is running: one pre-executed kernel while no kernel is
in use, none while the slides are open.

Voilà does not shut a kernel down when its tab is closed. Here a kernel whose page was connected and
has lost every connection for ``CLOSED_TAB_GRACE`` seconds (the tab was closed, not merely reloaded)
is shut down, and a fresh kernel is executed at once: a lecturer who checks the slides before class
and closes the tab finds them ready again later.

This module is imported by the Voilà server process (``course_lib.slides`` puts this folder on its
``PYTHONPATH``), so it must not import ``course_lib`` (which would load TensorFlow into the server).
"""

import asyncio

from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager
from tornado.ioloop import IOLoop

CLOSED_TAB_GRACE = 20  # s without any connection before a kernel that had one counts as abandoned


class _PoolSizeWhenIdle(dict):
    """Voilà's ``kernel_pools_config``, read each time it refills: pool size 1 if no kernel runs, else 0."""

    def __init__(self, manager):
        super().__init__()
        self._manager = manager

    def get(self, key, default=None):
        return {"pool_size": 0 if self._manager.list_kernel_ids() else 1, "kernel_env_variables": {}}


class LectureKernelManager(AsyncMappingKernelManager):
    """At most one kernel per served lecture; pre-executed while the lecture is not open."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._stopping = False
        if self.has_trait("kernel_pools_config"):  # Voilà wraps this class when pre-heating is on
            self.kernel_pools_config = _PoolSizeWhenIdle(self)

    def notify_disconnect(self, kernel_id):
        super().notify_disconnect(kernel_id)
        if self._kernel_connections.get(kernel_id) == 0:
            IOLoop.current().call_later(CLOSED_TAB_GRACE, self._shutdown_if_abandoned, kernel_id)

    def _shutdown_if_abandoned(self, kernel_id):
        if not self._stopping and kernel_id in self and self._kernel_connections.get(kernel_id) == 0:
            self.log.info("The slides using kernel %s were closed: shutting it down", kernel_id)
            asyncio.ensure_future(self.shutdown_kernel(kernel_id))

    async def shutdown_kernel(self, kernel_id, *args, **kwargs):
        await super().shutdown_kernel(kernel_id, *args, **kwargs)
        notebook = getattr(self, "notebook_path", None)
        if not self._stopping and notebook and hasattr(self, "fill_if_needed") and not self.list_kernel_ids():
            self.fill_if_needed(notebook_name=notebook)

    async def shutdown_all(self, *args, **kwargs):
        self._stopping = True
        await super().shutdown_all(*args, **kwargs)
