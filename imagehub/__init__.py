"""ImageHub: versioned, de-identified, reviewable medical-imaging datasets."""

__version__ = "0.1.0"
