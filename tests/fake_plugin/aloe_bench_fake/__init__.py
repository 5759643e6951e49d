"""Fake third-party aloe-bench plugin (tests only)."""
