-- A CIBA request an institution's script left pending: the institution and its own reference
-- for the push it sent its customer, by which its backend later delivers the answer.
ALTER TABLE ciba_requests ADD COLUMN bank_institution TEXT;
ALTER TABLE ciba_requests ADD COLUMN bank_reference TEXT;
CREATE UNIQUE INDEX ciba_requests_bank_reference ON ciba_requests(bank_institution, bank_reference);
