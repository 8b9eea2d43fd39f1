-- 0005_sales_index.sql: indexes for the library and the seller dashboard
-- (src/store/sqlite_sales.c). A seller's sales were found by scanning every
-- LicensePurchased event, and each purchase's status by scanning every
-- DisputeOpened event: both grew with the whole market's history. The
-- indexer stores addresses in `args` lowercased, so the expressions here are
-- exactly those the queries use (SQLite uses an expression index only for
-- the same expression).

CREATE INDEX chain_events_seller ON chain_events (name, json_extract(args, '$.seller'));
CREATE INDEX chain_events_purchase ON chain_events (name, json_extract(args, '$.purchaseId'));
