"""harness: how socket calls behave across kernels, with evidence."""

__version__ = "0.1.0"
