"""`harness record`: a program's socket calls on Linux, traced with strace, as a scenario to replay anywhere.

strace.py parses the trace, convert.py turns calls into steps, render.py writes the
file, tracer.py runs strace (the edge), session.py ties them together.
"""
