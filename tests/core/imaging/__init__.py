"""Imaging: format sniffing, metadata, series ordering, pixels, thumbnails, NIfTI export."""
