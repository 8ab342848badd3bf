"""The grading engine: a trusted judge (pytest running the hidden tests) and an
untrusted, sandboxed worker process that runs learner code.

The judge never imports learner code; only tensors and plain values cross the
boundary, serialised with safetensors and JSON (loading cannot run code).
"""

# Bumped whenever a verdict can change for the same code: a bundle graded by another version is verified with a
# warning, and a cohort's cached verification is redone. 0.2.0: the built-in rule as an allow-list, calls that
# hang end the tests after them ("not run"), each run in its own user and PID namespace.
GRADER_VERSION = "0.2.0"
