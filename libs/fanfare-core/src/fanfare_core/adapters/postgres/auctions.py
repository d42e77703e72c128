"""Storage of bids, bidders' standings and the book row that serializes an auction's bids."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from psycopg import AsyncConnection

from fanfare_core.adapters.postgres.round_trip import RoundTrip
from fanfare_core.domain.auctions import Standing


@dataclass(frozen=True, slots=True)
class Book:
    bid_count: int
    high_bid: Decimal | None
    closed_at: datetime | None


@dataclass(frozen=True, slots=True)
class StoredBid:
    id: str
    consumer_id: str
    amount: Decimal
    placed_at: datetime


@dataclass(frozen=True, slots=True)
class BidderRecord:
    best_amount: Decimal
    best_at: datetime
    bid_count: int


_LEADERS = (
    "SELECT consumer_id, best_amount, best_at FROM auction_bidders WHERE auction_id = %s"
    " ORDER BY best_amount DESC, best_at LIMIT %s"
)
_BIDDERS = (
    "SELECT consumer_id, best_amount, best_at, bid_count FROM auction_bidders"
    " WHERE auction_id = %s AND consumer_id = ANY(%s)"
)


@dataclass(frozen=True, slots=True)
class AcceptedBid:
    bid_id: str
    consumer_id: str
    amount: Decimal
    at: datetime
    buy_now: bool


class AuctionRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def lock_book(self, auction_id: str) -> Book:
        """The auction's book, locked until the transaction ends: bids are taken in turn."""
        await self._conn.execute(
            "INSERT INTO auction_books (auction_id) VALUES (%s) ON CONFLICT DO NOTHING",
            (auction_id,),
        )
        cur = await self._conn.execute(
            "SELECT bid_count, high_bid, closed_at FROM auction_books WHERE auction_id = %s"
            " FOR UPDATE",
            (auction_id,),
        )
        row = await cur.fetchone()
        assert row is not None
        return Book(*row)

    @staticmethod
    async def lock_and_read(
        trip: RoundTrip, auction_id: str, winner_count: int, consumer_ids: list[str]
    ) -> tuple[Book, list[Standing], dict[str, BidderRecord]]:
        """Lock the auction's book (until the transaction ends), then read the leaders and
        the records of ``consumer_ids``: three statements added to ``trip`` (a unit of
        work's first, with its ``BEGIN``), which runs. The reads run after the lock is
        held, so they see every bid committed before it."""
        book = trip.send(
            "INSERT INTO auction_books (auction_id) VALUES (%s) ON CONFLICT (auction_id)"
            " DO UPDATE SET auction_id = excluded.auction_id"
            " RETURNING bid_count, high_bid, closed_at",
            (auction_id,),
        )
        leaders = trip.send(_LEADERS, (auction_id, winner_count))
        records = trip.send(_BIDDERS, (auction_id, consumer_ids))
        await trip.run()
        row = book.one()
        assert row is not None
        return (
            Book(*row),
            [Standing(*r) for r in leaders.rows],
            {r[0]: BidderRecord(*r[1:]) for r in records.rows},
        )

    async def book(self, auction_id: str) -> Book:
        cur = await self._conn.execute(
            "SELECT bid_count, high_bid, closed_at FROM auction_books WHERE auction_id = %s",
            (auction_id,),
        )
        row = await cur.fetchone()
        return Book(0, None, None) if row is None else Book(*row)

    async def leaders(self, auction_id: str, count: int) -> list[Standing]:
        """The ``count`` best standings, best first."""
        cur = await self._conn.execute(_LEADERS, (auction_id, count))
        return [Standing(*row) for row in await cur.fetchall()]

    async def bidder(self, auction_id: str, consumer_id: str) -> BidderRecord | None:
        cur = await self._conn.execute(
            "SELECT best_amount, best_at, bid_count FROM auction_bidders"
            " WHERE auction_id = %s AND consumer_id = %s",
            (auction_id, consumer_id),
        )
        row = await cur.fetchone()
        return None if row is None else BidderRecord(*row)

    @staticmethod
    def send_bids(
        trip: RoundTrip, auction_id: str, organization_id: str, bids: list[AcceptedBid]
    ) -> None:
        """Store accepted bids (in the order they were taken): the bids, each bidder's new
        best and count, and the book's count and high bid, in three statements added to
        ``trip``."""
        if not bids:
            return
        trip.send(
            "INSERT INTO auction_bids (id, auction_id, organization_id, consumer_id, amount,"
            " placed_at, buy_now) SELECT b.id, %s, %s, b.consumer_id, b.amount, b.at, b.buy_now"
            " FROM unnest(%s::text[], %s::text[], %s::numeric[], %s::timestamptz[],"
            " %s::boolean[]) AS b(id, consumer_id, amount, at, buy_now)",
            (
                auction_id, organization_id, [b.bid_id for b in bids],
                [b.consumer_id for b in bids], [b.amount for b in bids],
                [b.at for b in bids], [b.buy_now for b in bids],
            ),
        )  # fmt: skip
        latest: dict[str, AcceptedBid] = {}
        counts: dict[str, int] = {}
        for bid in bids:  # each bid beats the bidder's last: the latest is the best
            latest[bid.consumer_id] = bid
            counts[bid.consumer_id] = counts.get(bid.consumer_id, 0) + 1
        best = list(latest.values())
        trip.send(
            "INSERT INTO auction_bidders (auction_id, consumer_id, best_amount, best_bid_id,"
            " best_at, bid_count) SELECT %s, b.consumer_id, b.amount, b.id, b.at, b.n"
            " FROM unnest(%s::text[], %s::numeric[], %s::text[], %s::timestamptz[], %s::int[])"
            " AS b(consumer_id, amount, id, at, n)"
            " ON CONFLICT (auction_id, consumer_id) DO UPDATE SET"
            " best_amount = excluded.best_amount, best_bid_id = excluded.best_bid_id,"
            " best_at = excluded.best_at,"
            " bid_count = auction_bidders.bid_count + excluded.bid_count",
            (
                auction_id, [b.consumer_id for b in best], [b.amount for b in best],
                [b.bid_id for b in best], [b.at for b in best],
                [counts[b.consumer_id] for b in best],
            ),
        )  # fmt: skip
        high = max(b.amount for b in bids)
        trip.send(
            "UPDATE auction_books SET bid_count = bid_count + %s,"
            " high_bid = greatest(coalesce(high_bid, %s), %s) WHERE auction_id = %s",
            (len(bids), high, high, auction_id),
        )

    async def close_early(self, auction_id: str, bid_id: str, at: datetime) -> None:
        await self._conn.execute(
            "UPDATE auction_books SET closed_at = %s, buy_now_bid = %s WHERE auction_id = %s",
            (at, bid_id, auction_id),
        )

    async def bids(
        self, auction_id: str, *, consumer_id: str | None, limit: int
    ) -> list[StoredBid]:
        """Newest first; only ``consumer_id``'s when given."""
        cur = await self._conn.execute(
            "SELECT id, consumer_id, amount, placed_at FROM auction_bids WHERE auction_id = %s"
            " AND (%s::text IS NULL OR consumer_id = %s) ORDER BY id DESC LIMIT %s",
            (auction_id, consumer_id, consumer_id, limit),
        )
        return [StoredBid(*row) for row in await cur.fetchall()]


@dataclass(frozen=True, slots=True)
class Win:
    consumer_id: str
    amount: Decimal
    payment_token: str


class SettlementRepository:
    """Results of settled auctions."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def ranking(self, auction_id: str) -> list[Standing]:
        cur = await self._conn.execute(
            "SELECT consumer_id, best_amount, best_at FROM auction_bidders WHERE auction_id = %s"
            " ORDER BY best_amount DESC, best_at",
            (auction_id,),
        )
        return [Standing(*row) for row in await cur.fetchall()]

    async def record(
        self,
        auction_id: str,
        at: datetime,
        reserve_met: bool,
        bidders: int,
        wins: list[tuple[Win, str]],
    ) -> bool:
        """Store the result once; False if the auction was already settled."""
        cur = await self._conn.execute(
            "INSERT INTO auction_results (auction_id, settled_at, reserve_met, bidders)"
            " VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
            (auction_id, at, reserve_met, bidders),
        )
        if cur.rowcount != 1:
            return False
        async with self._conn.cursor() as many:
            await many.executemany(
                "INSERT INTO auction_winners (auction_id, consumer_id, amount, payment_token_id,"
                " payment_token) VALUES (%s, %s, %s, %s, %s)",
                [
                    (auction_id, w.consumer_id, w.amount, token_id, w.payment_token)
                    for w, token_id in wins
                ],
            )
        return True

    async def settled(self, auction_id: str) -> bool:
        cur = await self._conn.execute(
            "SELECT 1 FROM auction_results WHERE auction_id = %s", (auction_id,)
        )
        return await cur.fetchone() is not None

    async def win(self, auction_id: str, consumer_id: str) -> Win | None:
        cur = await self._conn.execute(
            "SELECT consumer_id, amount, payment_token FROM auction_winners"
            " WHERE auction_id = %s AND consumer_id = %s",
            (auction_id, consumer_id),
        )
        row = await cur.fetchone()
        return None if row is None else Win(*row)
