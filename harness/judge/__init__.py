"""Judging: which expectation applies to a target (expectations.py) and the verdicts (verdict.py)."""
