"""The sandboxed side: the only code that runs next to the learner's.

Mounted read-only into the sandbox together with ``grader/__init__.py`` and
``grader/protocol.py``, and nothing else of the harness: no judge, no hidden
tests, no references. It imports torch, the standard library and the wire
format only.
"""
