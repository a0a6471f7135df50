"""Benchmarks: each figure beside the ceiling measured in the same run (`make bench`)."""
