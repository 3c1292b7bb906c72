"""Repairs: each one a plan (commands, files, diff preview), then apply, verify and undo."""
