"""Report writers, one module per format; each takes a GradeReport and returns text."""
