"""Verifying a whole cohort: many bundles re-graded in parallel, in shards, merged.

- ``selection``  which bundles a run takes: content hashes, the sorted list, ``--shard I/N``
- ``documents``  one results document per bundle, the grader fingerprint, resuming
- ``job``        one verification, in its own process (``python -m challenge.cohort.job``)
- ``run``        the scheduler: N jobs at a time, the output folder's lock, skipping what is done
- ``merge``      the shards' documents into the cohort report (reusing ``challenge.cohort.bundles``)
- ``render``     that report as terminal tables, Markdown, HTML and JSON

`challenge cohort compare` (the learners' own reports, nothing run) lives in
``challenge.cohort.bundles``; the commands are in ``challenge.commands.cohort``.
"""
