"""Shared fixtures: synthetic datasets and the path of ../shared/data (skip when absent)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tumorseg.data.synthetic import make_dataset

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

torch.set_num_threads(max(1, min(2, torch.get_num_threads())))


def shared_data(*parts: str) -> Path:
    """Path under ../shared/data, or skip the test when it is not there."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} not available")
    return path


@pytest.fixture(scope="session")
def synthetic_dataset(tmp_path_factory) -> Path:
    """24 phantoms of 64×64 in the Kaggle layout with a metadata.csv of 6 patients."""
    return make_dataset(tmp_path_factory.mktemp("syn") / "data", n=24, size=64, seed=1, n_patients=6)
