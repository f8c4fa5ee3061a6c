-- DPoP (RFC 9449): a code bound to a key by dpop_jkt, and refresh tokens of public clients
-- bound to the key that first redeemed them.
ALTER TABLE authorization_codes ADD COLUMN dpop_jkt TEXT;
ALTER TABLE refresh_tokens ADD COLUMN jkt TEXT;
