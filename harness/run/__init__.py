"""Running scenarios: the agent protocol (protocol.py), the runner (runner.py), the results file (results.py)."""
