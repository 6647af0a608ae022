"""Administration commands: users, API tokens, organisations and teams, the audit trail."""

from __future__ import annotations

import getpass
import os
import socket
import sys
from datetime import timedelta
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from imagehub.cli.platform import migrated_platform
from imagehub.core.errors import InvalidInput

console = Console()


def _operator() -> str:
    """Who ran an admin command, as the audit trail names them: ``cli:`` and the account on
    the machine it ran on, since every administrator shares the command line's database."""
    try:
        account = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a bare container)
        account = f"uid-{os.getuid()}"
    return f"cli:{account}@{socket.gethostname()}"[:64]


ACTOR = _operator()

user_app = typer.Typer(help="Manage user accounts.", no_args_is_help=True)
token_app = typer.Typer(help="Issue and revoke API tokens.", no_args_is_help=True)
org_app = typer.Typer(help="Organisations and teams.", no_args_is_help=True)
audit_app = typer.Typer(help="Verify, export and maintain the audit trail.", no_args_is_help=True)


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\n")
        if not password:
            raise InvalidInput("no password on standard input: send one line holding it")
        return password
    first = typer.prompt("password", hide_input=True)
    if typer.prompt("again", hide_input=True) != first:
        raise InvalidInput("the passwords differ")
    return str(first)


@user_app.command("create")
def user_create(
    username: str,
    email: str = typer.Option("", help="E-mail address."),
    admin: bool = typer.Option(False, "--admin", help="Make a site administrator."),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from stdin."),
) -> None:
    """Create a user with a password."""
    from imagehub.services import accounts

    password = _read_password(password_stdin)
    with migrated_platform().sessions.begin() as session:
        accounts.create_user(
            session, username=username, password=password, actor=ACTOR, email=email, is_admin=admin
        )
    console.print(f"created user {username}{' (administrator)' if admin else ''}")


@user_app.command("passwd")
def user_passwd(
    username: str,
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from stdin."),
) -> None:
    """Set a user's password; it signs the user out of every browser (API tokens stay)."""
    from imagehub.services import accounts

    password = _read_password(password_stdin)
    with migrated_platform().sessions.begin() as session:
        accounts.set_password(session, username=username, password=password, actor=ACTOR)
    console.print(f"password of {username} changed; their browser sessions are ended, API tokens kept")


@user_app.command("admin")
def user_admin(username: str, revoke: bool = typer.Option(False, "--revoke")) -> None:
    """Grant (or with --revoke, remove) site administration."""
    from imagehub.services import accounts

    with migrated_platform().sessions.begin() as session:
        accounts.set_admin(session, username=username, is_admin=not revoke, actor=ACTOR)
    console.print(f"{username} is {'no longer ' if revoke else ''}a site administrator")


def _printable(text: str) -> str:
    return escape("".join(c if c.isprintable() else "\N{REPLACEMENT CHARACTER}" for c in text))


@user_app.command("list")
def user_list() -> None:
    """List users."""
    from sqlalchemy import select

    from imagehub.models.accounts import User

    table = Table("username", "email", "admin", "active", "sign-in")
    with migrated_platform().sessions() as session:
        for user in session.scalars(select(User).order_by(User.username)):
            signs_in = "oidc" if user.oidc_subject else "password" if user.password_hash else "none"
            table.add_row(
                user.username,
                _printable(user.email),  # from a provider or a form: no markup, no terminal codes
                "yes" if user.is_admin else "",
                "yes" if user.is_active else "no",
                signs_in,
            )
    console.print(table)


@token_app.command("create")
def token_create(
    username: str,
    name: str = typer.Option(..., help="What the token is for."),
    scope: str = typer.Option("read", help="read, write or admin."),
    dataset: str = typer.Option("", help="Limit to one dataset (owner/name)."),
    expires_days: int = typer.Option(90, min=0, max=3650, help="Days until it expires (0: never)."),
) -> None:
    """Issue an API token; it is printed once and stored only as a hash."""
    from imagehub.services import accounts, datasets

    with migrated_platform().sessions.begin() as session:
        dataset_id = None
        if dataset:
            owner, _, ds_name = dataset.partition("/")
            dataset_id = datasets.get(session, owner=owner, name=ds_name).id
        issued = accounts.create_token(
            session,
            user=accounts.get_user(session, username),
            name=name,
            scope=scope,
            actor=ACTOR,
            dataset_id=dataset_id,
            expires_in=timedelta(days=expires_days) if expires_days else None,
        )
    console.print(
        f"token {issued.token.id} for {username} ({issued.token.scope}); copy it now, it is not shown again:"
    )
    print(issued.secret)


@token_app.command("revoke")
def token_revoke(
    token_id: int = typer.Argument(..., min=1, max=2**63 - 1),
    username: str = typer.Option(..., help="The token's owner."),
) -> None:
    """Revoke one of a user's API tokens (its id is in `imagehub token create`'s output)."""
    from imagehub.services import accounts

    with migrated_platform().sessions.begin() as session:
        accounts.revoke_token(
            session, user=accounts.get_user(session, username), token_id=token_id, actor=ACTOR
        )
    console.print(f"token {token_id} revoked")


@org_app.command("create")
def org_create(name: str, owner: str = typer.Option(..., help="The first owner's username.")) -> None:
    """Create an organisation; its first owner may create datasets under its name."""
    from imagehub.services import accounts

    with migrated_platform().sessions.begin() as session:
        accounts.create_org(session, name=name, owner=accounts.get_user(session, owner), actor=ACTOR)
    console.print(f"organisation {name} created, owned by {owner}")


@org_app.command("add-member")
def org_add_member(
    org: str, username: str, role: str = typer.Option("member", help="owner or member")
) -> None:
    """Add a user to an organisation, as a member or an owner."""
    from imagehub.services import accounts

    with migrated_platform().sessions.begin() as session:
        accounts.add_org_member(session, org=org, username=username, role=role, actor=ACTOR)
    console.print(f"{username} is a {role} of {org}")


@org_app.command("team-create")
def team_create(org: str, team: str) -> None:
    """Create a team in an organisation; datasets can grant roles to it."""
    from imagehub.services import accounts

    with migrated_platform().sessions.begin() as session:
        accounts.create_team(session, org=org, name=team, actor=ACTOR)
    console.print(f"team {org}/{team} created")


@org_app.command("team-add")
def team_add(org: str, team: str, username: str) -> None:
    """Add a user to a team of an organisation."""
    from imagehub.services import accounts

    with migrated_platform().sessions.begin() as session:
        accounts.add_team_member(session, org=org, team=team, username=username, actor=ACTOR)
    console.print(f"{username} joined {org}/{team}")


@audit_app.command("verify")
def audit_verify() -> None:
    """Check the whole hash chain; report the first broken link. The result is recorded,
    so the admin page shows when the whole chain was last verified, or where it broke."""
    from imagehub.services import audit

    with migrated_platform().sessions.begin() as session:
        problem = audit.check(session, whole=True).problem
    if problem is None:
        console.print("audit chain intact")
        return
    console.print(
        f"[red]audit chain broken at event {problem.event_id}:[/] {problem.reason}", highlight=False
    )
    raise typer.Exit(1)


@audit_app.command("export")
def audit_export(
    format: str = typer.Option("csv", "--format", help="csv or json (one object per line)."),
    out: Path = typer.Option(None, "--out", help="Write here instead of stdout."),
    actor: str = typer.Option("", help="Only this actor's events."),
    action: str = typer.Option("", help="Only actions starting with this, e.g. object."),
    dataset: str = typer.Option("", help="Only events about this dataset (owner/name)."),
    since: str = typer.Option("", help="From this time (ISO 8601; UTC without a zone)."),
    until: str = typer.Option("", help="Before this time (ISO 8601; UTC without a zone)."),
) -> None:
    """Write the trail, or the events the filters match, as CSV or JSON lines."""
    from imagehub.services import audit

    if format not in audit.EXPORT_FORMATS:
        raise InvalidInput(f"unknown format {format!r}: use {' or '.join(audit.EXPORT_FORMATS)}")
    where = audit.AuditFilter.parse(actor=actor, action=action, dataset=dataset, since=since, until=until)
    platform = migrated_platform()
    with platform.sessions.begin() as session:
        details = {"format": format, **where.as_query()}
        audit.record(session, actor=ACTOR, action="audit.export", details=details)
    with platform.sessions() as session:
        chunks = audit.export(session, format, where)
        if out is None:
            for chunk in chunks:
                sys.stdout.write(chunk)
            return
        with out.open("w", encoding="utf-8", newline="") as handle:
            handle.writelines(chunks)
    console.print(f"audit trail written to {out}")


@audit_app.command("purge")
def audit_purge(
    retention_days: int = typer.Option(
        None, min=1, max=36_500, help="Default: IMAGEHUB_AUDIT_RETENTION_DAYS."
    ),
) -> None:
    """Delete events older than the retention period, unless a legal hold covers them."""
    from imagehub.services import audit

    platform = migrated_platform()
    days = retention_days if retention_days is not None else platform.settings.audit_retention_days
    if days is None:
        raise InvalidInput("no retention period: set IMAGEHUB_AUDIT_RETENTION_DAYS or pass --retention-days")
    with platform.sessions.begin() as session:
        deleted = audit.purge(session, actor=ACTOR, retention_days=days)
    console.print(f"purged {deleted} audit event(s) older than {days} days")


@audit_app.command("hold")
def audit_hold(
    reason: str, dataset: str = typer.Option("", help="owner/name; empty holds everything.")
) -> None:
    """Place a legal hold: events it covers survive any retention purge."""
    from imagehub.services import audit

    with migrated_platform().sessions.begin() as session:
        hold = audit.add_legal_hold(session, actor=ACTOR, reason=reason, dataset=dataset)
    console.print(f"legal hold {hold.id} placed")


@audit_app.command("holds")
def audit_holds() -> None:
    """List the legal holds in force."""
    from imagehub.services import audit

    table = Table("id", "covers", "reason", "placed by", "since")
    with migrated_platform().sessions() as session:
        for hold in audit.active_holds(session):
            covers = hold.dataset or "every event"
            table.add_row(
                str(hold.id), covers, _printable(hold.reason), hold.created_by, f"{hold.created_at:%Y-%m-%d}"
            )
    console.print(table)


@audit_app.command("release")
def audit_release(hold_id: int = typer.Argument(..., min=1, max=2**63 - 1)) -> None:
    """Release a legal hold (its id is in `imagehub audit holds`)."""
    from imagehub.services import audit

    with migrated_platform().sessions.begin() as session:
        audit.release_legal_hold(session, actor=ACTOR, hold_id=hold_id)
    console.print(f"legal hold {hold_id} released")
