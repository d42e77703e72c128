import asyncio

from fanfare_core.adapters.postgres.migrate import available_migrations, migrate


async def test_migrations_apply_once_even_when_replicas_race(private_postgres) -> None:  # type: ignore[no-untyped-def]
    results = await asyncio.gather(*(migrate(private_postgres.url) for _ in range(4)))
    applied = sorted(len(r) for r in results)
    assert applied == [0, 0, 0, len(available_migrations())]
    assert await migrate(private_postgres.url) == []


def test_migrations_are_numbered_without_gaps() -> None:
    versions = [m.version for m in available_migrations()]
    assert versions == list(range(1, len(versions) + 1))
