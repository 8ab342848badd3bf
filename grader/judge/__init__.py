"""The judge: everything the hidden tests use (comparisons, statistics, the
session that talks to the sandboxed worker, helpers that build inputs and
reference modules, the task functions that cut held-out data).

It runs in the trusted process only and is never mounted into the sandbox.
The hidden-tests fingerprint covers this package whole, with ``grader/hidden/``
and the wire format (``grader/protocol.py``): hidden tests import nothing else
from the grader (``tests/grader/test_fingerprint.py`` checks it).
"""
