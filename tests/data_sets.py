"""Data for the tests: tiny invented copies in the original formats (the default set), and
the real data sets where `challenge data` put them or $CHALLENGE_DATA_DIR points (the slow set).

A test that needs the real data and does not find it is skipped with a reason that names the
command to run; with CHALLENGE_TEST_REQUIRE_DATA=1 (CI) it fails instead, so a missing data set
can never pass unseen.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from milestones.corpora import SOURCES, DataFileError, has_files, search_places

FIXTURE_DATA = Path(__file__).resolve().parent / "fixtures" / "data"  # 40 + 40 sentences, 48 + 16 articles
REQUIRE_ENV = "CHALLENGE_TEST_REQUIRE_DATA"
MISSING_REASON = ("needs the real rt_polarity and ag_news data sets: run `challenge data fetch` (online) or "
                  "`challenge data import DIR` (a local copy), or set CHALLENGE_DATA_DIR")


def real_data_folder() -> Path | None:
    """The first folder the loaders search that holds both real data sets ($CHALLENGE_DATA_DIR, then the cache)."""
    try:
        places = search_places()
    except DataFileError:
        return None
    return next((p.folder for p in places if all(has_files(s, p.folder) for s in SOURCES.values())), None)


def need_real_data() -> Path:
    folder = real_data_folder()
    if folder is None:
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{REQUIRE_ENV}=1 and this test {MISSING_REASON}")
        pytest.skip(MISSING_REASON)
    return folder
