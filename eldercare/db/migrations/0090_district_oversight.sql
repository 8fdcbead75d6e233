-- District oversight: a civil-affairs office that funds several care centres reads figures across
-- them (homes monitored, devices healthy, open and overdue alarms, response times), never writes,
-- and sees nothing of any other centre. Which centres a district account oversees is a list.
ALTER TABLE users DROP CONSTRAINT users_role_check;
ALTER TABLE users ADD CONSTRAINT users_role_check CHECK (role IN ('admin', 'staff', 'family', 'district'));

CREATE TABLE district_centres (
    user_id         bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    care_centre_id  bigint NOT NULL REFERENCES care_centres (id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, care_centre_id)
);
CREATE INDEX district_centres_centre ON district_centres (care_centre_id);

-- The shift handover reads alarms closed in a time range, per centre.
CREATE INDEX alerts_centre_resolved ON alerts (care_centre_id, resolved_at) WHERE resolved_at IS NOT NULL;
