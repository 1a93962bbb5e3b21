"""paper2run-tui: research repository (and paper) in, working Docker container (or an honest report) out."""

__version__ = "0.1.0"
