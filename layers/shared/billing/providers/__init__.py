"""The payment providers, one package each: webhook signature, events, API client, recorded calls."""
