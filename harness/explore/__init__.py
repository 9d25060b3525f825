"""`harness explore`: generated call sequences run on several targets, every disagreement shrunk to a scenario.

The flow, one module each: generate.py draws sequences from the op table
(choices.py: how a value of each field kind is drawn), sequence.py holds them
and turns them into scenarios the loader validates, bench.py runs batches
through the ordinary Runner, compare.py reads where the targets first differ,
shrink.py reduces a disagreement, findings.py groups them by signature,
write.py writes each finding as a scenario file, page.py the summary page,
session.py drives it all and command.py is the command line. docs/explore.md.
"""
