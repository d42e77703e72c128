"""Bidding: bids on one auction are taken one at a time, every accepted bid is stored with
its events before the answer, and the stored high bid only rises."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from fanfare_core.adapters.postgres.auctions import AcceptedBid, BidderRecord, StoredBid, Win
from fanfare_core.adapters.postgres.schedule import claim_settlement
from fanfare_core.adapters.postgres.unit_of_work import UnitOfWork
from fanfare_core.auth.tokens import TokenService
from fanfare_core.batches import TakenInTurn
from fanfare_core.clock import Clock
from fanfare_core.domain.auctions import (
    BidderStatus,
    Standing,
    check_bid,
    check_bidding_open,
    consumer_status,
    is_buy_now,
    parse_bid_amount,
    rank_after,
    standing_status,
    winners,
)
from fanfare_core.domain.distributions import Distribution, Kind, Status
from fanfare_core.domain.errors import (
    Conflict,
    DomainError,
    FieldError,
    NotFound,
    ValidationFailed,
)
from fanfare_core.domain.events import (
    AuctionBidOutbid,
    AuctionBidPlaced,
    AuctionConsumerWon,
    AuctionSettled,
    DistributionStatusChanged,
    SettlementRequested,
)
from fanfare_core.domain.money import InvalidAmount
from fanfare_core.ids import new_id
from fanfare_core.logs import get_logger

log = get_logger(__name__)

AUCTION_NOT_FOUND = "Auction not found"
PAYMENT = "payment"
Pool = AsyncConnectionPool[AsyncConnection]


@dataclass(frozen=True, slots=True)
class BidderState:
    auction_id: str
    consumer_id: str
    status: str
    last_bid_amount: Decimal | None
    last_bid_time: datetime | None
    bid_count: int
    payment_token: str | None = None


@dataclass(frozen=True, slots=True)
class _PendingBid:
    auction: Distribution
    consumer_id: str
    amount: Decimal


@dataclass(frozen=True, slots=True)
class AuctionView:
    auction: Distribution
    status: str
    current_high_bid: Decimal | None


def bidder_alias(auction_id: str, consumer_id: str) -> str:
    """A stable pseudonym of a bidder within one auction, so bidding wars can be followed
    without revealing who bids."""
    digest = hashlib.sha256(f"{auction_id}:{consumer_id}".encode()).hexdigest()
    return f"bidder_{digest[:10]}"


@dataclass(frozen=True, slots=True)
class Settlement:
    auction_id: str
    winners: tuple[str, ...]
    reserve_met: bool
    newly_settled: bool


class AuctionService:
    def __init__(
        self,
        pool: Pool,
        clock: Clock,
        cache_seconds: float = 30.0,
        tokens: Callable[[], TokenService] | None = None,
        payment_window: timedelta = timedelta(hours=48),
    ) -> None:
        self._pool = pool
        self._clock = clock
        self._tokens = tokens
        self._payment_window = payment_window
        self._cache_seconds = cache_seconds
        self._auctions: dict[tuple[str, str], tuple[float, Distribution | None]] = {}
        self._bids: TakenInTurn[str, _PendingBid, BidderState] = TakenInTurn(
            self._take_batch, name="bids"
        )

    def forget(self, auction_id: str) -> None:
        for key in [k for k in self._auctions if k[1] == auction_id]:
            del self._auctions[key]

    async def _auction(self, organization_id: str, auction_id: str) -> Distribution:
        key = (organization_id, auction_id)
        cached = self._auctions.get(key)
        if cached is None or time.monotonic() - cached[0] >= self._cache_seconds:
            async with UnitOfWork(self._pool) as uow:
                found = await uow.distributions.get(organization_id, Kind.AUCTION, auction_id)
            cached = (time.monotonic(), found)
            self._auctions[key] = cached
        if cached[1] is None:
            raise NotFound(AUCTION_NOT_FOUND)
        return cached[1]

    async def view(self, organization_id: str, auction_id: str) -> AuctionView:
        auction = await self._auction(organization_id, auction_id)
        async with UnitOfWork(self._pool) as uow:
            book = await uow.auctions.book(auction_id)
        status = consumer_status(auction, book.closed_at is not None, self._clock.now())
        return AuctionView(auction, status, book.high_bid)

    async def place_bid(
        self, organization_id: str, auction_id: str, consumer_id: str, raw_amount: str
    ) -> BidderState:
        """Accept or refuse one bid; the answer comes once an accepted bid is stored.

        Bids of one auction are taken in turn by one task per auction and process: it takes
        whatever bids have arrived, locks the auction's book once, judges them one by one
        in arrival order (each against the standings the bids before it left), and stores
        the accepted ones with their events in one transaction. A crowd's bids thus share
        one lock, one round of reads and one commit instead of queueing for each.
        """
        auction = await self._auction(organization_id, auction_id)
        try:
            amount = parse_bid_amount(raw_amount, auction.currency_code or "USD")
        except InvalidAmount as error:
            raise ValidationFailed([FieldError("amount", str(error))]) from error
        return await self._bids.submit(auction_id, _PendingBid(auction, consumer_id, amount))

    async def _take_batch(
        self, auction_id: str, batch: list[_PendingBid]
    ) -> list[BidderState | Exception]:
        auction = batch[0].auction
        winner_count = auction.winner_count or 1
        answers: list[BidderState | Exception] = []
        accepted: list[AcceptedBid] = []
        closed_now = False
        started = time.perf_counter()
        async with UnitOfWork(self._pool) as uow:
            book, leaders, records = await uow.auctions.lock_and_read(
                await uow.round_trip(), auction_id, winner_count,
                list({b.consumer_id for b in batch}),
            )  # fmt: skip
            closed = book.closed_at is not None
            now = self._clock.now()
            for bid in batch:
                mine = records.get(bid.consumer_id)
                try:
                    check_bidding_open(auction, closed, now)
                    check_bid(
                        auction, leaders, None if mine is None else mine.best_amount, bid.amount
                    )
                except DomainError as refusal:
                    answers.append(refusal)
                    continue
                bid_id = new_id("bid")
                buy_now = is_buy_now(auction, bid.amount)
                self._record_bid(uow, auction, leaders, bid, bid_id, buy_now, now)
                leaders = rank_after(
                    leaders, Standing(bid.consumer_id, bid.amount, now), winner_count
                )
                count = (0 if mine is None else mine.bid_count) + 1
                records[bid.consumer_id] = BidderRecord(bid.amount, now, count)
                accepted.append(AcceptedBid(bid_id, bid.consumer_id, bid.amount, now, buy_now))
                if buy_now:
                    await self._close_early(uow, auction, bid_id, now)
                    closed = closed_now = True
                answers.append(
                    BidderState(
                        auction_id=auction_id,
                        consumer_id=bid.consumer_id,
                        status=standing_status(auction, leaders, bid.consumer_id).value,
                        last_bid_amount=bid.amount,
                        last_bid_time=now,
                        bid_count=count,
                    )
                )
                # The next bid is later, so rankings on equal amounts stay well defined.
                now = max(self._clock.now(), now + timedelta(microseconds=1))
            trip = await uow.round_trip()  # the bids, their events, COMMIT: one trip
            uow.auctions.send_bids(trip, auction_id, auction.organization_id, accepted)
            await uow.commit_in(trip)
        log.debug(
            "bids taken", auction=auction_id, bids=len(batch), accepted=len(accepted),
            seconds=round(time.perf_counter() - started, 4),
        )  # fmt: skip
        if closed_now:
            self.forget(auction_id)
        return answers

    @staticmethod
    def _record_bid(
        uow: UnitOfWork,
        auction: Distribution,
        leaders: list[Standing],
        bid: _PendingBid,
        bid_id: str,
        buy_now: bool,
        now: datetime,
    ) -> None:
        """The events of an accepted bid: placed, and outbid for whom it pushes out."""
        uow.record(
            AuctionBidPlaced(
                organization_id=auction.organization_id, occurred_at=now,
                auction_id=auction.id, consumer_id=bid.consumer_id, bid_id=bid_id,
                amount=bid.amount, buy_now=buy_now,
            )
        )  # fmt: skip
        in_front = {s.consumer_id for s in leaders}
        if bid.consumer_id not in in_front and len(leaders) == (auction.winner_count or 1):
            dropped = leaders[-1]
            uow.record(
                AuctionBidOutbid(
                    organization_id=auction.organization_id, occurred_at=now,
                    auction_id=auction.id, consumer_id=dropped.consumer_id,
                    amount=dropped.amount, outbid_by=bid.amount,
                )
            )  # fmt: skip

    async def _close_early(
        self, uow: UnitOfWork, auction: Distribution, bid_id: str, now: datetime
    ) -> None:
        """A buy-now bid closes bidding at once and asks for settlement."""
        await uow.auctions.close_early(auction.id, bid_id, now)
        # OPEN normally; still SCHEDULED when the scheduler has not caught up with openAt.
        for previous in (Status.OPEN, Status.SCHEDULED):
            if await uow.distributions.change_status(auction.id, previous, Status.CLOSED, now):
                uow.record(
                    DistributionStatusChanged(
                        organization_id=auction.organization_id, occurred_at=now,
                        distribution_id=auction.id, kind=auction.kind.value,
                        status=Status.CLOSED.value, previous_status=previous.value,
                    )
                )  # fmt: skip
                break
        if await claim_settlement(uow.connection, auction.id, now, "BUY_NOW"):
            uow.record(
                SettlementRequested(
                    organization_id=auction.organization_id, occurred_at=now,
                    distribution_id=auction.id, kind=auction.kind.value, reason="BUY_NOW",
                )
            )  # fmt: skip

    async def status(self, organization_id: str, auction_id: str, consumer_id: str) -> BidderState:
        """One's standing: WINNING/ACTIVE/OUTBID while bidding runs, WON (with the payment
        token) or LOST once the auction is settled."""
        auction = await self._auction(organization_id, auction_id)
        async with UnitOfWork(self._pool) as uow:
            mine = await uow.auctions.bidder(auction_id, consumer_id)
            leaders = await uow.auctions.leaders(auction_id, auction.winner_count or 1)
            settled = await uow.settlements.settled(auction_id)
            win = await uow.settlements.win(auction_id, consumer_id) if settled else None
        if mine is None:
            status = BidderStatus.LOST if settled else BidderStatus.ACTIVE
            return BidderState(auction_id, consumer_id, status.value, None, None, 0)
        if settled:
            status = BidderStatus.WON if win else BidderStatus.LOST
        else:
            status = standing_status(auction, leaders, consumer_id)
        return BidderState(
            auction_id=auction_id,
            consumer_id=consumer_id,
            status=status.value,
            last_bid_amount=mine.best_amount,
            last_bid_time=mine.best_at,
            bid_count=mine.bid_count,
            payment_token=None if win is None else win.payment_token,
        )

    async def settle(self, organization_id: str, auction_id: str) -> Settlement:
        """Settle an auction whose bidding has ended, exactly once: the top ``winnerCount``
        bidders at or above the reserve win and get a payment token; the auction becomes
        SETTLED. Calling it again returns the recorded result."""
        if self._tokens is None:
            raise RuntimeError("settling needs a token service")
        now = self._clock.now()
        async with UnitOfWork(self._pool) as uow:
            auction = await uow.distributions.get_for_update(
                organization_id, Kind.AUCTION, auction_id
            )
            if auction is None:
                raise NotFound(AUCTION_NOT_FOUND)
            book = await uow.auctions.lock_book(auction_id)
            ranking = await uow.settlements.ranking(auction_id)
            if auction.status is Status.SETTLED or await uow.settlements.settled(auction_id):
                won = [w.consumer_id for w in winners(auction, ranking)]
                return Settlement(auction_id, tuple(won), bool(won) or not ranking, False)
            closes = auction.close_at or auction.settle_at
            if book.closed_at is None and (closes is None or now < closes):
                raise Conflict("Auction is still open")
            chosen = winners(auction, ranking)
            tokens = self._tokens()
            wins = []
            for standing in chosen:
                token_id = new_id("pay")
                token = tokens.issue(
                    subject=standing.consumer_id, audience=auction_id, token_type=PAYMENT,
                    now=now, lifetime=self._payment_window, token_id=token_id,
                    extra={"amount": str(standing.amount),
                           "currency": auction.currency_code or "USD"},
                )  # fmt: skip
                wins.append((Win(standing.consumer_id, standing.amount, token), token_id))
            reserve_met = bool(chosen) or not ranking
            await uow.settlements.record(auction_id, now, reserve_met, len(ranking), wins)
            previous = auction.status
            if await uow.distributions.change_status(auction_id, previous, Status.SETTLED, now):
                uow.record(
                    DistributionStatusChanged(
                        organization_id=organization_id, occurred_at=now,
                        distribution_id=auction_id, kind=auction.kind.value,
                        status=Status.SETTLED.value, previous_status=previous.value,
                    )
                )  # fmt: skip
            for win, _ in wins:
                uow.record(
                    AuctionConsumerWon(
                        organization_id=organization_id, occurred_at=now, auction_id=auction_id,
                        consumer_id=win.consumer_id, amount=win.amount,
                    )
                )  # fmt: skip
            uow.record(
                AuctionSettled(
                    organization_id=organization_id, occurred_at=now, auction_id=auction_id,
                    winners=tuple(w.consumer_id for w, _ in wins), reserve_met=reserve_met,
                    bidders=len(ranking),
                )
            )  # fmt: skip
            await uow.commit()
        self.forget(auction_id)
        return Settlement(auction_id, tuple(w.consumer_id for w, _ in wins), reserve_met, True)

    async def highest(self, organization_id: str, auction_id: str) -> Decimal | None:
        await self._auction(organization_id, auction_id)
        async with UnitOfWork(self._pool) as uow:
            return (await uow.auctions.book(auction_id)).high_bid

    async def bids(
        self, organization_id: str, auction_id: str, *, consumer_id: str | None, limit: int
    ) -> list[StoredBid]:
        if not 1 <= limit <= 100:
            raise ValidationFailed([FieldError("limit", "must be between 1 and 100")])
        await self._auction(organization_id, auction_id)
        async with UnitOfWork(self._pool) as uow:
            return await uow.auctions.bids(auction_id, consumer_id=consumer_id, limit=limit)
