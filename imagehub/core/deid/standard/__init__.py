"""Data only: the standard's tables as committed JSON, read by ``imagehub.core.deid.table``."""
