-- A gateway's clock as the platform sees it: its newest heartbeat's ts minus the time ingest
-- received it (positive: the gateway's clock is ahead). A heartbeat that waited in the gateway's
-- queue reads as behind by its wait, so judge "behind" once the queue is empty (queue_depth 0).
ALTER TABLE home_state ADD COLUMN clock_offset_s double precision;
