"""Acquire."""
