"""The life of a worker process: connect, declare, serve probes, run, stop on SIGTERM."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable

from fanfare_core.adapters.nats.connection import declare_consumer
from fanfare_core.events.catalogue import ConsumerSpec
from fanfare_core.http.probes import start_probe_server
from fanfare_core.logs import configure_logging, get_logger
from fanfare_core.runtime import Resources
from fanfare_core.settings import Settings

log = get_logger(__name__)

WorkerBody = Callable[[Resources, asyncio.Event], Awaitable[None]]


async def _idle(resources: Resources, stop: asyncio.Event) -> None:
    await stop.wait()


async def run_worker(settings: Settings, consumer: ConsumerSpec, body: WorkerBody = _idle) -> None:
    """Run ``body`` until SIGTERM or SIGINT, then drain and close everything.

    Before ``body`` starts, the worker's durable consumer exists, the outbox relay runs,
    ``/healthz`` and ``/readyz`` answer on ``settings.http_port``, and "ready" is logged.
    """
    configure_logging(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    resources = await Resources.open(settings)
    probes = None
    try:
        await declare_consumer(resources.js, consumer)
        resources.start_outbox_relay()
        probes = await start_probe_server(
            settings.http_host, settings.http_port, resources.readiness
        )
        log.info(
            "ready",
            service=settings.service_name,
            consumer=consumer.durable_name,
            port=settings.http_port,
        )
        await body(resources, stop)
    finally:
        log.info("stopping", service=settings.service_name)
        if probes is not None:
            probes.close()
            await probes.wait_closed()
        await resources.close()
        log.info("stopped", service=settings.service_name)
