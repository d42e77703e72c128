-- Running a draw records its winners and backups, its result and its status in one
-- transaction; every other entrant is LOST from that moment (reads derive it from the
-- result: an ENTERED entry of a drawn draw is LOST, NOT_SELECTED). The loser pass then
-- stores those statuses and their draw.consumer.lost events, a chunk per transaction,
-- and sets this when none is left. Draws recorded before this migration stored them all.
ALTER TABLE draw_results ADD COLUMN losers_recorded_at timestamptz;
UPDATE draw_results SET losers_recorded_at = drawn_at;
