"""The nbgrader source notebook, generated from the reference solution.

``python -m reference.notebook`` writes ``assignments/<id>/<notebook>``: the
lesson text and cells from :mod:`reference.notebook.lesson`, every solution
cell copied from :mod:`reference` (:mod:`reference.notebook.solutions`), points
and bars from course.yaml (:mod:`reference.notebook.build`). ``--check`` fails
when the committed notebook is out of date. :mod:`reference.notebook.feedback`
keeps hidden tests out of the feedback nbgrader hands back.

Nothing is imported here, so nbgrader_config.py can load the feedback
preprocessor without loading TensorFlow.
"""
