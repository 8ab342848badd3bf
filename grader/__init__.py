"""The grading engine: a trusted judge (pytest running the hidden tests) and an
untrusted, sandboxed worker process that runs learner code.

The judge never imports learner code; only tensors and plain values cross the
boundary, serialised with safetensors and JSON (loading cannot run code).
"""

GRADER_VERSION = "0.1.0"
