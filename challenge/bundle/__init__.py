"""Submissions: one bundle per learner (``submit``), re-graded safely by
whoever receives it (``verify``), read without running anything (``show``),
and compared across a programme (``cohort``).

Modules: ``manifest`` (layout and schema), ``pack`` (submit, export folder),
``extract`` (safe unzip), ``integrity`` (manifest, hashes, log chain),
``verify`` (re-grading in the sandbox), ``show``, ``cohort``, ``render``.
None of them imports torch at import time; ``verify`` does when it grades.
"""
