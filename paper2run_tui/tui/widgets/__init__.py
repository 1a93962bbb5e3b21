"""Widgets of the run screen, the gate and the runs browser."""
