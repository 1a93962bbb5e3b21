"""Record: the run folder (reference layout + events.jsonl), atomic writes, and the run store."""
