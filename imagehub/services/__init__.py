"""Business logic: the only layer that opens transactions and combines core engines."""
