-- Client administration: a disabled client looks absent to every protocol endpoint until it is
-- enabled again; its webhook deliveries are signed with a secret kept sealed (AES-256-GCM).
ALTER TABLE clients ADD COLUMN disabled_at INTEGER;
ALTER TABLE clients ADD COLUMN webhook_secret_sealed TEXT;
