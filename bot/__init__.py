"""Composition root of the Tangqiao resident-services bot: settings, command line, channels."""

__version__ = "0.1.0"
