"""Reports: they only read results documents (matrix.py), never judge again.

junit.py and html.py write the files, console.py the terminal.
"""
