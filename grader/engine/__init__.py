"""The engine of the trusted side: launching the sandboxed worker, talking to
it, running pytest on the hidden tests, orchestrating training. Only
``grader.api`` uses it from outside the grader."""
