"""Helpers of the smartcustoms benchmark suite: machine description, drivers, baselines, recorders.

Nothing here is part of the installed package; ``benchmarks/conftest.py`` puts this folder on
``sys.path`` (and on the stream worker's ``PYTHONPATH`` for ``benchkit.verdict_clock``).
"""
