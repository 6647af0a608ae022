"""Leaf engines and infrastructure drivers; imports nothing from the layers above."""
