from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REAL_FIXTURES = ROOT.parent / "shared" / "fixtures" / "real"


@pytest.fixture
def real_fixtures() -> Path:
    """The real raw-layout metadata files (CI and developer machines have ../shared)."""
    if not REAL_FIXTURES.is_dir():
        pytest.skip(f"real dataset fixtures not found at {REAL_FIXTURES} (they live beside the "
                    "repository in ../shared, present in CI)")
    return REAL_FIXTURES
