"""Rendered training data for models sensekit trains itself."""
