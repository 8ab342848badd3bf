"""The learner's record: the workspace, its append-only event log and what is derived from it (time,
progress, reflections)."""
