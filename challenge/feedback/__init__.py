"""What a test run tells the learner: grading, failures grouped by mistake, hints, what comes after a pass."""
