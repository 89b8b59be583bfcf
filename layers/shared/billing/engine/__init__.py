"""The exactly-once engine: markers, order-safe commits, and the effects they record."""
