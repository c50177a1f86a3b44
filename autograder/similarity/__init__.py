"""Class similarity: which pairs of submissions an instructor may want to look at.

``grade-all`` keeps each notebook's own code cells beside its result
(:mod:`autograder.similarity.code`); ``autograder similarity RESULTS_DIR``
(:mod:`autograder.similarity.report`) compares every pair of one assignment's
submissions on that code (copydetect's winnowing, the released notebook as boilerplate)
and on the fingerprints the trusted judge took of each model
(:mod:`autograder.similarity.models`), puts each value against the class's distribution
and writes a page, a CSV and a JSON file. It lists pairs to look at, with the evidence;
it never says who copied.

Only names live here, so the class page can link to the similarity page without
importing what computes it.
"""

from __future__ import annotations

#: The files ``autograder similarity`` writes into the results folder.
PAGE = "similarity.html"
CSV_FILE = "similarity.csv"
JSON_FILE = "similarity.json"
#: The folder of the results directory where grade-all keeps each submission's code.
CODE_DIR = "code"
