"""Fuzzing the framing a client must parse: Hypothesis strategies (``harness.fuzz.strategies``),
generated cases built on a base exchange (``harness.fuzz.cases``) and the search that runs them
against any adapter (``harness.fuzz.engine``)."""
