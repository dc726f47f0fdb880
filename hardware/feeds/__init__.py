"""Feed connectors: listings, posts and news from exports, RSS/Atom feeds and HTTP listings APIs, as
record frames through the ingest gateway (``items`` makes the records, ``sources`` fetches them,
``runner`` streams every source at once without one stopping the others)."""
