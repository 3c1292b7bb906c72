"""rescuetui: a guided terminal program that brings unbootable Linux systems back."""

__version__ = "0.1.0"
