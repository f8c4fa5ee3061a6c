-- What each rotation of a refresh token issued, so that a confidential client's retry of a
-- rotation whose answer was lost can be told from a reuse (RFC 9700 §4.14.2): the successor
-- refresh token and the access token issued with it. A successor replaced by such a retry is
-- marked superseded (and rotated, so presenting it later counts as reuse).
ALTER TABLE refresh_tokens ADD COLUMN successor_hash TEXT;
ALTER TABLE refresh_tokens ADD COLUMN successor_jti TEXT;
ALTER TABLE refresh_tokens ADD COLUMN superseded_at INTEGER;
