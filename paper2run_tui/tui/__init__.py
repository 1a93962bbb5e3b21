"""The Textual app: a client of the engine's events and of its human gate."""
