"""The histogram recorder (plugins/histograms.py): the lessons' binning and near-zero band."""

from __future__ import annotations

import pytest
import torch

from scratchlab.plugins.histograms import Binning, HistogramBuffer, histogram_vector

# one torch thread, as the experiment fixtures use (tests/fixtures/experiments.py)
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_lessons_binning_counts_like_histc_and_near_zero_is_get_mins_bins():
    """06's get_min reads bins 19-21 of histc(40, -7, 7): values in [-0.35, 0.7)."""
    binning = Binning()
    assert binning.near_zero == pytest.approx((-0.35, 0.7))
    x = torch.tensor([-8.0, -0.36, -0.35, 0.0, 0.69, 0.7, 3.0, 6.99, 100.0])
    vector = histogram_vector(x, binning)
    torch.testing.assert_close(vector[:-2], torch.histc(x, 40, -7, 7))
    # -0.35, 0.0, 0.69 of the seven values inside [-7, 7]; -8 and 100 are out of range
    assert vector[-2].item() == pytest.approx(3 / 7)
    assert vector[-1].item() == pytest.approx(2 / 9)


def test_band_stays_inside_the_range_when_zero_is_outside_it():
    low, high = Binning(lo=1.0, hi=5.0, bins=4).near_zero
    assert (low, high) == (1.0, 4.0)


@pytest.mark.parametrize(("lo", "hi", "bins"), [(1.0, 1.0, 40), (0.0, 1.0, 2)])
def test_bad_binning_is_refused(lo, hi, bins):
    with pytest.raises(ValueError, match="histogram needs"):
        Binning(lo=lo, hi=hi, bins=bins)


def test_buffer_reads_everything_back_as_ints_and_skips_empty_tensors():
    buffer = HistogramBuffer()
    buffer.add("cnn", 2, "conv1", torch.zeros(10), 0, Binning())
    buffer.add("cnn", 2, "conv1", torch.empty(0), 1, Binning())
    (record,) = buffer.records
    assert record.counts[20] == 10 and sum(record.counts) == 10
    assert all(isinstance(c, int) for c in record.counts)
    assert (record.step, record.frac_near_zero) == (0, 1.0)
