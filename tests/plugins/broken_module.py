"""Imported through a fake entry point by the discovery tests: importing it fails."""

raise ImportError("No module named 'vendor_sdk'")
