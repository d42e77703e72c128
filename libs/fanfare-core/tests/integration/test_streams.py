"""Streams and durable consumers are declared by code, idempotently, by every replica."""

import asyncio

import nats

from fanfare_core.adapters.nats.connection import declare_all
from fanfare_core.events.catalogue import CONSUMERS, STREAMS
from fanfare_devstack.servers import EmbeddedNats


async def test_declaring_twice_and_concurrently_is_harmless(private_nats: EmbeddedNats) -> None:
    client = await nats.connect(private_nats.url)
    try:
        js = client.jetstream()
        await asyncio.gather(declare_all(js), declare_all(js))
        await declare_all(js)
        for stream in STREAMS:
            info = await js.stream_info(stream.name)
            assert info.config.subjects == list(stream.subjects)
            assert info.config.duplicate_window == stream.duplicate_window_seconds
        for consumer in CONSUMERS:
            info = await js.consumer_info(consumer.stream, consumer.durable_name)
            assert info.config.filter_subject == consumer.filter_subject
        # The stream survives a restart of the server with its store.
        private_nats.restart()
        await asyncio.wait_for(_reconnected(client), timeout=15)
        assert (await js.stream_info("FANFARE_EVENTS")).config.name == "FANFARE_EVENTS"
    finally:
        await client.close()


async def _reconnected(client: nats.NATS) -> None:
    while not client.is_connected:  # noqa: ASYNC110 - the client offers no event
        await asyncio.sleep(0.05)
