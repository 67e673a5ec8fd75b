"""Backends: read live state and write changes. Only vertex.py imports google.cloud."""
