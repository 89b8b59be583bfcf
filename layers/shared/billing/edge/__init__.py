"""The HTTP edge: request bodies validated in one step, errors mapped to answers in one place."""
