"""Tests of the synthetic CPA phantom (sample_data/nvcview_sample)."""
