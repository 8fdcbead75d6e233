-- mmWave presence radars are a device kind.
ALTER TABLE devices DROP CONSTRAINT devices_kind_check;
ALTER TABLE devices ADD CONSTRAINT devices_kind_check CHECK (kind IN (
    'motion', 'door', 'bed', 'wearable', 'sos_button', 'plug', 'temperature', 'smoke', 'gas', 'co', 'water_leak',
    'presence'));
