"""Implement."""
