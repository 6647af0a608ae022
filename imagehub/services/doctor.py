"""`imagehub doctor`: everything ImageHub relies on, each with the fix when missing."""

from __future__ import annotations

import shutil
from dataclasses import dataclass

from imagehub.services.health import health
from imagehub.services.platform import Platform


@dataclass(frozen=True)
class Finding:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True


@dataclass(frozen=True)
class ExternalTool:
    command: str
    package: str
    purpose: str


EXTERNAL_TOOLS = (
    ExternalTool("tesseract", "tesseract-ocr", "OCR of text burned into pixels (light engine)"),
    ExternalTool("dciodvfy", "dicom3tools", "DICOM conformance checks of de-identified output"),
    ExternalTool("node", "nodejs", "building the viewer widgets"),
)


def diagnose(platform: Platform) -> list[Finding]:
    """Run every check; required failures make the doctor exit non-zero."""
    report = health(platform)
    settings = platform.settings
    findings = [
        Finding("data directory", True, str(settings.resolved_data_dir)),
        Finding(
            "database",
            report.database.ok,
            report.database.detail,
            "check IMAGEHUB_DATABASE_URL and that the server is running",
        ),
        Finding("schema", report.migrations.ok, report.migrations.detail, "run `imagehub migrate`"),
        Finding(
            "object storage",
            report.storage.ok,
            report.storage.detail,
            "check IMAGEHUB_STORAGE_URL, its credentials and that it is writable",
        ),
    ]
    for tool in EXTERNAL_TOOLS:
        path = shutil.which(tool.command)
        findings.append(
            Finding(
                tool.command,
                path is not None,
                path or f"not found; needed for {tool.purpose}",
                f"apt-get install {tool.package}",
                required=False,
            )
        )
    return findings
