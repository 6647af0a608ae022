"""Entry point of the `imagehub` command.

Every ImageHubError ends the command with one line on stderr and exit status 2;
tracebacks are for bugs only.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from imagehub import __version__
from imagehub.core.errors import ConfigError, ImageHubError

app = typer.Typer(
    name="imagehub",
    help="Version, de-identify, review and view medical-imaging datasets.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console()
err_console = Console(stderr=True)
MAX_GRACE_HOURS = 10 * 365 * 24.0  # a grace period past this overflows dates; nothing needs more


@app.command()
def version() -> None:
    """Print the ImageHub version."""
    console.print(f"imagehub {__version__}")


@app.command()
def migrate() -> None:
    """Bring the database schema up to date (safe to run again)."""
    from imagehub.core.db import check_connection, safe_url
    from imagehub.models.schema import upgrade
    from imagehub.services.accounts import ensure_first_admin
    from imagehub.services.platform import build_platform

    platform = build_platform()
    check_connection(platform.engine)
    state = upgrade(platform.engine)
    console.print(f"database {safe_url(platform.engine.url)} is at schema {state.current}")
    with platform.sessions.begin() as session:
        password = ensure_first_admin(session)
    if password:
        console.print(
            f"created the first administrator: user [bold]admin[/], password [bold]{password}[/] "
            "(shown once; change it with `imagehub user passwd admin`)",
            highlight=False,
        )


@app.command()
def serve(
    host: str = typer.Option(None, help="Interface to bind (default from IMAGEHUB_HOST)."),
    port: int = typer.Option(None, help="Port to listen on (default from IMAGEHUB_PORT)."),
) -> None:
    """Run the web portal and API."""
    import uvicorn

    from imagehub.cli.platform import migrated_platform
    from imagehub.core.config import load_settings
    from imagehub_api.app import create_app

    overrides = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    settings = load_settings(**overrides)
    platform = migrated_platform(settings)
    _refuse_taken_port(settings.host, settings.port)
    base = f"http://{settings.host}:{settings.port}"
    console.print(f"ImageHub {__version__} on {base}  (API docs: {base}/api/docs)")
    uvicorn.run(create_app(platform), host=settings.host, port=settings.port, log_level="info")


def _refuse_taken_port(host: str, port: int) -> None:
    """One line, before the banner, when another process listens there already."""
    import socket

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}") from None


@app.command()
def doctor() -> None:
    """Check configuration, database, storage and system tools; print fixes."""
    from imagehub.cli.platform import existing_platform
    from imagehub.services.doctor import diagnose

    findings = diagnose(existing_platform())
    table = Table("check", "state", "detail", "fix")
    for item in findings:
        state = "[green]ok[/]" if item.ok else ("[red]FAIL[/]" if item.required else "[yellow]missing[/]")
        table.add_row(item.name, state, escape(item.detail), "" if item.ok else escape(item.fix))
    console.print(table)
    if any(item.required and not item.ok for item in findings):
        raise typer.Exit(1)


@app.command()
def gc(
    grace_hours: float = typer.Option(
        6.0,
        "--grace-hours",
        min=0.0,
        max=MAX_GRACE_HOURS,
        help="Keep anything touched this recently (hours; at most ten years).",
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Only report what would be deleted."),
) -> None:
    """Delete blobs and tree nodes that no branch, tag or recent commit can reach."""
    from datetime import timedelta

    from imagehub.cli.platform import migrated_platform
    from imagehub.services.maintenance import collect_garbage

    report = collect_garbage(migrated_platform(), grace=timedelta(hours=grace_hours), dry_run=dry_run)
    verb = "would delete" if dry_run else "deleted"
    console.print(
        f"reachable: {report.reachable_commits} commits, {report.reachable_nodes} tree nodes, "
        f"{report.reachable_blobs} blobs; {verb}: {report.deleted_commits} commits, "
        f"{report.deleted_nodes} tree nodes, {report.deleted_blobs} blobs ({report.freed_bytes} bytes), "
        f"{report.deleted_derived} derived objects ({report.derived_bytes} bytes)"
    )


@app.command()
def fsck(deep: bool = typer.Option(False, "--deep", help="Re-hash every blob's bytes.")) -> None:
    """Check that every reachable commit, tree node and blob is present and intact, and
    that recorded deltas agree with their trees."""
    from imagehub.cli.platform import migrated_platform
    from imagehub.services.maintenance import check_integrity

    report = check_integrity(migrated_platform(), deep=deep)
    for problem in report.problems:
        console.print(f"[red]problem:[/] {escape(str(problem))}", highlight=False)
    console.print(
        f"checked {report.commits} commits, {report.nodes} tree nodes, {report.blobs} blobs,"
        f" {report.deltas} deltas"
    )
    if not report.ok:
        console.print(f"[red]{len(report.problems)} problem(s) found; nothing was changed[/]")
        raise typer.Exit(1)


@app.command()
def samples(
    owner: str = typer.Option("demo", help="Namespace of the sample datasets."),
    mr_series: Path = typer.Option(
        Path("tests/data/volume"), "--mr-series", help="Folder of the 20-slice MR series (skipped if absent)."
    ),
) -> None:
    """Load sample imaging datasets, one commit each; the pipeline's sensor picks them up."""
    from imagehub.cli.platform import migrated_platform
    from imagehub.services.samples import load_samples

    loaded = load_samples(migrated_platform(), owner=owner, mr_series=mr_series, say=console.print)
    console.print(f"loaded {len(loaded)} sample datasets under {owner}/")


@app.command()
def deid(
    source: Path = typer.Argument(..., help="Folder of DICOM / NIfTI files to de-identify."),
    out: Path = typer.Option(..., "--out", help="New folder for the output (mirrors the input tree)."),
    profile: str = typer.Option("research", "--profile", help="basic or research (Annex E options)."),
    recipe: Path = typer.Option(None, "--recipe", help="Custom rules in the deid recipe format."),
    ocr: str = typer.Option("tesseract", "--ocr", help="Burned-in text engine: tesseract, easyocr or none."),
    all_pixels: bool = typer.Option(
        False, "--all-pixels", help="OCR every instance, not only those at risk."
    ),
    secret_file: Path = typer.Option(
        Path("~/.config/imagehub/deid-secret"), "--secret-file", help="Key for consistent UIDs and dates."
    ),
) -> None:
    """De-identify a local folder (PS3.15 Annex E), no server needed; the report lands beside --out."""
    from rich.progress import Progress

    from imagehub.services.deid_local import deidentify_folder, load_secret

    recipe_text = recipe.read_text() if recipe else ""
    with Progress(console=err_console, transient=True) as bar:
        task = bar.add_task("de-identifying", total=None)
        result = deidentify_folder(
            source,
            out,
            profile=profile,
            recipe=recipe_text,
            ocr=ocr,
            scan_all_pixels=all_pixels,
            secret=load_secret(secret_file),
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    console.print(
        f"{result.written} written, {result.failed} failed, {result.skipped} skipped (not imaging), "
        f"{result.needs_review} to review; report: {result.report_path}",
        highlight=False,
    )
    if result.failed:
        raise typer.Exit(1)


from imagehub.cli.admin import audit_app, org_app, token_app, user_app  # noqa: E402
from imagehub.cli.issue import issue_app  # noqa: E402
from imagehub.cli.proposal import proposal_app  # noqa: E402
from imagehub.cli.release import release_app  # noqa: E402
from imagehub.cli.remote import COMMANDS  # noqa: E402

for command in COMMANDS:
    app.command()(command)

app.add_typer(user_app, name="user")
app.add_typer(token_app, name="token")
app.add_typer(org_app, name="org")
app.add_typer(audit_app, name="audit")
app.add_typer(proposal_app, name="proposal")
app.add_typer(issue_app, name="issue")
app.add_typer(release_app, name="release")


def main() -> None:
    """Console-script entry: run the app, turning domain errors, and files the command was
    pointed at that cannot be read or written, into one line."""
    try:
        app()
    except ImageHubError as exc:
        _fail(str(exc))
    except OSError as exc:  # a path given on the command line: missing, a folder, not ours...
        _fail(f"{exc.filename or 'a file'}: {exc.strerror or exc}")
    except UnicodeDecodeError:
        _fail("a file given to the command is not text (UTF-8)")


def _fail(message: str) -> None:
    err_console.print(f"[red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    sys.exit(2)


if __name__ == "__main__":
    main()
