"""Use cases, one module each: what an entry point asks the layer to do."""
