-- client_secret_jwt clients: the secret sealed with the data key (HMAC needs the secret itself).
ALTER TABLE clients ADD COLUMN secret_sealed TEXT;
