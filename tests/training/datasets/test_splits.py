"""The split types: labels as a bool table whatever their kind, subsets."""

from __future__ import annotations

import pytest

from training.datasets.splits import DatasetSplits

pytestmark = pytest.mark.unit


def test_has_label_is_one_hot_for_classes(fashion: DatasetSplits) -> None:
    has = fashion.test.subset(slice(0, 50)).has_label()
    assert has.shape == (50, 10)
    assert has.sum(axis=1).tolist() == [1] * 50
