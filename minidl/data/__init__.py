"""Built-in data sets and data-splitting helpers."""
from .datasets import digits, splitEachLabel

__all__ = ["digits", "splitEachLabel"]
