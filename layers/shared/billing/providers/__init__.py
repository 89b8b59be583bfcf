"""One module per payment provider: signatures, payload shapes, API calls."""
