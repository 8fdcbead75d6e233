-- Home-safety alarms (smoke, combustible gas, carbon monoxide, water leak) are device kinds, and a
-- device's own low-battery flag and tamper switch are part of its health (heartbeat DeviceHealth).
ALTER TABLE devices DROP CONSTRAINT devices_kind_check;
ALTER TABLE devices ADD CONSTRAINT devices_kind_check CHECK (kind IN (
    'motion', 'door', 'bed', 'wearable', 'sos_button', 'plug', 'temperature', 'smoke', 'gas', 'co', 'water_leak'));
ALTER TABLE devices ADD COLUMN battery_low boolean, ADD COLUMN tamper boolean;
