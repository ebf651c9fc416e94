-- Every ingest batch updates the latest_state row of each device it carries. With the
-- default fillfactor (100) its pages are full, so each update writes the new row version to
-- another page and a new primary-key index entry as well. Leaving half of each page free
-- lets PostgreSQL update in place (a HOT update: no index write, old versions pruned
-- within the page). Applies to pages written from now on; existing pages gain room as
-- vacuum frees them.
ALTER TABLE latest_state SET (fillfactor = 50);
