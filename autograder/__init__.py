"""Trusted autograder of the MNIST course.

Student code runs only in :mod:`autograder.executor`'s sandboxed process
(:mod:`autograder.harness` is what runs there); :mod:`autograder.checks` judge the
exported artifacts in the trusted process; :mod:`autograder.formats` report them.
Nothing is imported here so that the sandbox starts fast.
"""
