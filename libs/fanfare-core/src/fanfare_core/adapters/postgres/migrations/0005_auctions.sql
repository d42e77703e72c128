-- Auctions: every accepted bid, each bidder's best bid, and one book row per auction whose
-- lock serializes the bids of that auction.

CREATE TABLE auction_books (
    auction_id   text PRIMARY KEY REFERENCES distributions (id),
    bid_count    integer NOT NULL DEFAULT 0,
    high_bid     numeric,
    closed_at    timestamptz,          -- bidding closed early by a buy-now bid
    buy_now_bid  text
);

CREATE TABLE auction_bids (
    id              text PRIMARY KEY,
    auction_id      text NOT NULL REFERENCES distributions (id),
    organization_id text NOT NULL REFERENCES organizations (id),
    consumer_id     text NOT NULL,
    amount          numeric NOT NULL CHECK (amount > 0),
    placed_at       timestamptz NOT NULL,
    buy_now         boolean NOT NULL DEFAULT false
);
CREATE INDEX auction_bids_by_auction ON auction_bids (auction_id, id DESC);
CREATE INDEX auction_bids_by_bidder ON auction_bids (auction_id, consumer_id, id DESC);

-- A bidder's best (latest, since each must beat the last) bid: the ranking of bidders.
CREATE TABLE auction_bidders (
    auction_id  text NOT NULL REFERENCES distributions (id),
    consumer_id text NOT NULL,
    best_amount numeric NOT NULL,
    best_bid_id text NOT NULL,
    best_at     timestamptz NOT NULL,
    bid_count   integer NOT NULL,
    PRIMARY KEY (auction_id, consumer_id)
);
-- Highest first; an earlier bid ranks above a later one of the same amount.
CREATE INDEX auction_bidders_ranking ON auction_bidders (auction_id, best_amount DESC, best_at);

-- Settlement: one result per auction (the primary key makes settling twice impossible)
-- and one row per winner with the payment token that lets them pay.
CREATE TABLE auction_results (
    auction_id  text PRIMARY KEY REFERENCES distributions (id),
    settled_at  timestamptz NOT NULL,
    reserve_met boolean NOT NULL,
    bidders     integer NOT NULL
);
CREATE TABLE auction_winners (
    auction_id       text NOT NULL REFERENCES auction_results (auction_id),
    consumer_id      text NOT NULL,
    amount           numeric NOT NULL,
    payment_token_id text NOT NULL,
    payment_token    text NOT NULL,
    PRIMARY KEY (auction_id, consumer_id)
);
