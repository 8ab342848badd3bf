"""Maintainer tooling (``challenge dev ...``): the learner never needs it.

- ``catalogue``: a milestone's stub, reference, mutants (``mutants.yaml``) and
  alternatives as entries to run;
- ``check``: ``challenge dev check``, which runs every entry under the hidden tests;
- ``scaffold``: ``challenge dev new``, a new milestone's files.
"""
