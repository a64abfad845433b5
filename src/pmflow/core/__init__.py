"""The generic engine: workflow definitions, machines, storage, hooks. Knows nothing of customers."""
