"""The core of the MNIST course: what every side of the kit needs and nothing else.

- :mod:`mnist_course.config`: course.yaml, loaded once into one validated object;
- :mod:`mnist_course.data`: MNIST, read from the course's files;
- :mod:`mnist_course.spec` and :mod:`mnist_course.assignments`: each assignment declared
  once, as data (its contract, stages and checks);
- :mod:`mnist_course.results`: the frozen record every check returns;
- :mod:`mnist_course.training` (with :mod:`~mnist_course.tf_data` and
  :mod:`~mnist_course.determinism`): the one compile and fit, used by the reference
  solution, the notebook and the grader's re-training;
- :mod:`mnist_course.tuning` and :mod:`mnist_course.perturbation`: the validation split
  and the perturbed test set that the reference, the notebook and the judge must agree on.

The reference solution (:mod:`reference`), the grader (:mod:`autograder`) and the
authoring tools (:mod:`authoring`) import this package; it imports none of them.
Nothing is imported here so that the sandbox starts fast.
"""
