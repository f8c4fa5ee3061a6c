-- A user's grants (the partner's grant listing and budgets, the account page, user deletion)
-- are found through this index: without it each such read scanned every grant.
CREATE INDEX grants_user ON grants(user_id, client_id);
