"""Shouwen (首问): a multichannel self-service assistant for telecom customer service."""

__version__ = "0.1.0"
