"""Everything the service keeps in Redis, and nothing more: the queue, encrypted tokens, Outreach users
(id, email, name), id-to-id maps, dedupe keys and counters. No Outreach record data ever comes through here."""
