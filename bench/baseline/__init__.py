"""Handlers written the common way, measured next to ours for comparison."""
