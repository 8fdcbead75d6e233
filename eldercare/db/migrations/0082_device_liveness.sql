-- Device liveness as devices really report (eldercare/domain/liveness.py): what the gateway's device
-- network (zigbee2mqtt's availability) says of each device and when the gateway said it, and each
-- device's usual longest silence between reports, learned by ingest, with how many gaps it learned.
ALTER TABLE devices
    ADD COLUMN availability     text CHECK (availability IN ('online', 'offline')),
    ADD COLUMN availability_at  timestamptz,
    ADD COLUMN usual_gap_s      double precision,
    ADD COLUMN gaps_learned     integer NOT NULL DEFAULT 0;
