"""Fuzzing the framing a client must parse.

* ``harness.fuzz.strategies``: public Hypothesis strategies for replies, framings, segmentations,
  EHLO lists and AUTH challenges (usable in any project's own tests);
* ``harness.fuzz.cases``: a generated case built on a base exchange, and what a correct client
  may report for it;
* ``harness.fuzz.engine``: the search behind ``smtp-harness fuzz``.

Imported lazily by the CLI: this package needs Hypothesis.
"""

__all__: list[str] = []
