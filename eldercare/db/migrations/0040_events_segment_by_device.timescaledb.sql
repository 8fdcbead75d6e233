-- Compress events segmented by home and device, as readings are. 0002 segmented events by home only,
-- and TimescaleDB warned at every first migration: column "device_id" should be used for segmenting or ordering
-- (device_id is in the unique key (device_id, seq, ts), which every late insert into a compressed
-- chunk checks; with device_id a segment column that check opens only the device's own batches).
-- Chunks compressed before this migration keep their settings until they are recompressed
-- (compress_chunk(chunk, recompress => true)); both read and deduplicate correctly.
ALTER TABLE events SET (
    timescaledb.compress_segmentby = 'home_id, device_id',
    timescaledb.compress_orderby = 'ts DESC, seq DESC'
);
