-- RFC 8705 §4: a public client's refresh token is bound to its TLS client certificate.
ALTER TABLE refresh_tokens ADD COLUMN x5t TEXT;
