"""Textual screens of the guided flow: views over core objects, no business logic."""
