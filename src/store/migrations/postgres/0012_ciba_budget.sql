-- The budget a CIBA request asks its grant to carry (the `budget` parameter's JSON), shown on
-- the approval page and set on the grant the approval creates.
ALTER TABLE ciba_requests ADD COLUMN budget TEXT;
