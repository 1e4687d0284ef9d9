-- The last connection test of each site (when, whether it passed, what went wrong): shown
-- beside the site in every frontend. Removing a site removes its row.
CREATE TABLE site_tests (
    site_id   BIGINT PRIMARY KEY REFERENCES sites(id),
    tested_at BIGINT NOT NULL,
    ok        BOOLEAN NOT NULL,
    message   TEXT
);
