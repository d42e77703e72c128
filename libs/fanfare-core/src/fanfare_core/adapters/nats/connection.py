"""Connecting to NATS and declaring Fanfare's streams and durable consumers."""

from __future__ import annotations

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import NotFoundError

from fanfare_core.events.catalogue import CONSUMERS, STREAMS, ConsumerSpec, StreamSpec
from fanfare_core.logs import get_logger

log = get_logger(__name__)


async def connect(url: str, name: str) -> Client:
    """A connection that keeps reconnecting for as long as the process lives."""

    async def on_disconnect() -> None:
        log.warning("nats disconnected")

    async def on_reconnect() -> None:
        log.info("nats reconnected")

    async def on_error(error: Exception) -> None:
        log.warning("nats error", error=str(error))

    return await nats.connect(
        url,
        name=name,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        connect_timeout=5,
        disconnected_cb=on_disconnect,
        reconnected_cb=on_reconnect,
        error_cb=on_error,
    )


def stream_config(spec: StreamSpec, replicas: int = 1) -> StreamConfig:
    return StreamConfig(
        name=spec.name,
        subjects=list(spec.subjects),
        description=spec.description,
        retention=RetentionPolicy.WORK_QUEUE if spec.work_queue else RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        max_age=float(spec.max_age_seconds),
        duplicate_window=float(spec.duplicate_window_seconds),
        num_replicas=replicas,
    )


def consumer_config(spec: ConsumerSpec) -> ConsumerConfig:
    return ConsumerConfig(
        durable_name=spec.durable_name,
        description=spec.description,
        filter_subject=spec.filter_subject,
        ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.ALL,
        ack_wait=float(spec.ack_wait_seconds),
        max_ack_pending=spec.max_ack_pending,
    )


async def declare_streams(js: JetStreamContext, replicas: int = 1) -> None:
    """Create or update every stream of the catalogue. Safe to run from every replica."""
    for spec in STREAMS:
        config = stream_config(spec, replicas)
        try:
            await js.stream_info(spec.name)
        except NotFoundError:
            await js.add_stream(config)
        else:
            await js.update_stream(config)


async def declare_consumer(js: JetStreamContext, spec: ConsumerSpec) -> None:
    """Create the durable consumer, or bring an existing one up to date."""
    await js.add_consumer(spec.stream, consumer_config(spec))


async def declare_all(js: JetStreamContext, replicas: int = 1) -> None:
    """Every stream and durable consumer of the catalogue."""
    await declare_streams(js, replicas)
    for spec in CONSUMERS:
        await declare_consumer(js, spec)
