"""Batch runs: many repositories, each its own ordinary run folder, scheduled on the free slots of a pool of
engines. UI-free: the headless CLI and the TUI are clients of `run_batch` through a BatchSink."""
