"""Pure rules: provider-neutral records, state transitions and their effects. No I/O."""
