"""Authoring tools: what turns the reference solution into what students get.

``python -m authoring`` writes each assignment's nbgrader source notebook,
``assignments/<id>/<notebook>``: the lesson text and cells from
:mod:`authoring.lessons` (one module per assignment), every solution cell copied from
:mod:`reference` (:mod:`authoring.solutions`), points and bars from course.yaml
(:mod:`authoring.build`). ``--check`` fails when a committed notebook is out of date.
:mod:`authoring.feedback` keeps hidden tests out of the feedback nbgrader hands back,
and :mod:`authoring.student_package` builds the wheel students install.

Nothing is imported here, so nbgrader_config.py can load the feedback preprocessor
without loading TensorFlow. Never shipped to students.
"""
