-- Connection slots per site, shared by every node: a site's max_connections holds across the
-- cluster. A slot is held by one node until released or until its lease expires (node died).
CREATE TABLE site_slots (
    site_id    BIGINT NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    slot       BIGINT NOT NULL,
    node_id    TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (site_id, slot)
);
CREATE INDEX site_slots_node ON site_slots (node_id);
