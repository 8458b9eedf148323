-- Idempotent posting: the Idempotency-Key a post was made with (the API's
-- request header, or the form's hidden per-page token), or NULL. UNIQUE, so
-- a retry of a request whose answer was lost can never store a second row:
-- its INSERT fails with a duplicate key, and the app answers with the row
-- the first one made. The key lives as long as its post (posts are never
-- deleted). ASCII and case-sensitive: keys are opaque tokens.
ALTER TABLE posts
    ADD COLUMN idem_key VARCHAR(128) CHARACTER SET ascii COLLATE ascii_bin NULL,
    ADD UNIQUE KEY posts_idem_key (idem_key);
