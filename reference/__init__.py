"""Reference solution of the MNIST course: the full pipeline as importable code.

Hidden from students. One module per stage, in the order the notebook teaches
them: :mod:`reference.data`, :mod:`reference.models`, :mod:`reference.training`,
:mod:`reference.evaluation`, :mod:`reference.plots`; :mod:`reference.pipeline`
runs them end to end (``python -m reference``). Nothing trains or downloads at
import time.
"""
