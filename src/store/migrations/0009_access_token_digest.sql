-- Access tokens keep a SHA-256 digest of the whole JWT: a presented token that matches it is
-- exactly one we issued, so checking it needs no signature verification.
ALTER TABLE access_tokens ADD COLUMN token_hash TEXT;
