"""Scenario files: the op table (ops.py), the selector grammar (selector.py), the loader (loader.py)."""
