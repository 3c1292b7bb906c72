"""Panic signatures as data, the classifier and the decision tree."""
