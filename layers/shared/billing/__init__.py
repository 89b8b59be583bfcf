"""Shared billing layer: verified provider webhooks, exactly-once state, entitlements."""
