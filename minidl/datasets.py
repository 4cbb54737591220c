"""Built-in data sets (``minidl.datasets.digits()``)."""
from .data.datasets import digits, splitEachLabel

__all__ = ["digits", "splitEachLabel"]
