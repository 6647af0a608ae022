"""Domain errors shared by every layer.

Callers at the edges (CLI, HTTP) turn these into one clear line or one HTTP status;
anything that is not an ``ImageHubError`` is a bug and may surface as a traceback.
"""


class ImageHubError(Exception):
    """Base of every error that a user can act on."""

    def details(self) -> dict[str, object]:
        """Structured extras for API clients (conflicting paths, missing blobs...)."""
        return {}


class ConfigError(ImageHubError):
    """Settings are invalid or point at something unusable."""


class NotFound(ImageHubError):
    """A named thing does not exist."""


class Conflict(ImageHubError):
    """The request collides with the current state (name taken, ref moved)."""


class InvalidInput(ImageHubError):
    """A value given by the user is malformed."""


class PreconditionFailed(ImageHubError):
    """A condition the caller set on a write (If-Match, If-None-Match) does not hold."""
