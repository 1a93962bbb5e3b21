"""Screens: home, live run, gate, runs browser, one past run."""
