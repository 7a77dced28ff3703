-- Schema version 8: message audits (POST /audit). Dates in ms since the epoch;
-- NULL start/end is an open bound.
CREATE TABLE audits (
    id      BLOB PRIMARY KEY,            -- 12-byte ObjectId
    user    BLOB NOT NULL,
    start   INTEGER,
    end     INTEGER,
    expires INTEGER NOT NULL,
    created INTEGER NOT NULL
);
CREATE INDEX audits_user ON audits(user);
