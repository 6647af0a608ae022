"""Identity primitives: password hashing, API tokens, roles and the access decision."""
