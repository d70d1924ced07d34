"""`corral users list|show|create|set|delete` (beside `users passwd`) and
`corral groups list|show|create|set|delete`: the accounts' records over the REST API.

Reading needs a token; changes need the administer permission. A password is
never an option (it would show in the process list): `--password-stdin` reads it.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from console.auth import CliState
from console.clikit import (
    changes,
    delete_each,
    json_option,
    listing,
    names,
    non_empty,
    pass_state,
    print_sheet,
    print_table,
    segment,
    show,
    show_rows,
)

PERMISSIONS = ("submit", "manage_own", "manage_all", "manage_nodes", "administer")
USER_COLUMNS = (("NAME", "name"), ("E-MAIL", "email"), ("GROUPS", "groups"),
                ("PERMISSIONS", "permissions"), ("LDAP", "ldap"))  # fmt: skip
GROUP_COLUMNS = (("NAME", "name"), ("PERMISSIONS", "permissions"), ("USERS", "users"),
                 ("DESCRIPTION", "description"))  # fmt: skip
permission_option = click.option(
    "--permission",
    "permissions",
    multiple=True,
    type=click.Choice(("", *PERMISSIONS)),
    help="A permission (repeat; in set, replaces them, --permission '' clears).",
)


def _password(password_stdin: bool) -> str | None:
    if not password_stdin:
        return None
    line = sys.stdin.readline().rstrip("\r\n")
    if not line:
        raise click.UsageError("--password-stdin: the first line must hold the password")
    return line


# -- users ----------------------------------------------------------------------------


@click.command("list")
@json_option
@pass_state
def users_list(state: CliState, as_json: bool) -> None:
    """List users: name, e-mail, groups, permissions, LDAP or not.

    \b
    corral users list --json
    """
    found = listing(state.client(), "/users/")
    show(as_json, found, lambda: print_table(found, USER_COLUMNS))


@click.command("show")
@click.argument("user")
@json_option
@pass_state
def users_show(state: CliState, user: str, as_json: bool) -> None:
    """Show one user.

    \b
    corral users show bob
    """
    found = dict(state.client().request("GET", f"/users/{segment(user)}"))
    show(as_json, found, lambda: print_sheet(found))


@click.command("create")
@click.argument("name", callback=non_empty)
@click.option("--email", default="", help="Where notifications go.")
@click.option("--group", "groups", multiple=True, help="A group to join (repeat).")
@permission_option
@click.option("--password-stdin", is_flag=True, help="Read a password from standard input.")
@json_option
@pass_state
def users_create(
    state: CliState, name: str, email: str, groups: tuple[str, ...],
    permissions: tuple[str, ...], password_stdin: bool, as_json: bool,
) -> None:  # fmt: skip
    """Create a user (administer); without a password they cannot log in yet.

    \b
    printf '%s\\n' "$PASSWORD" | corral users create bob --group artists --password-stdin
    """
    body: dict[str, Any] = {"name": name, "email": email, "groups": names(groups),
                            "permissions": names(permissions)}  # fmt: skip
    password = _password(password_stdin)
    if password is not None:
        body["password"] = password
    created = dict(state.client().request("POST", "/users/", body=body))
    show(as_json, created, f"created user {created.get('name')}")


@click.command("set")
@click.argument("user")
@click.option("--email", help="A new e-mail address.")
@click.option("--group", "groups", multiple=True, help="Replace the groups (repeat; '' clears).")
@permission_option
@json_option
@pass_state
def users_set(
    state: CliState, user: str, email: str | None, groups: tuple[str, ...],
    permissions: tuple[str, ...], as_json: bool,
) -> None:  # fmt: skip
    """Change a user's e-mail, groups or permissions (administer); passwords: `users passwd`.

    \b
    corral users set bob --group artists --group leads
    """
    fields = changes({
        "email": email,
        "groups": names(groups) if groups else None,
        "permissions": names(permissions) if permissions else None,
    })  # fmt: skip
    changed = dict(state.client().request("PATCH", f"/users/{segment(user)}", body=fields))
    show(as_json, changed, f"updated user {changed.get('name')}")


@click.command("delete")
@click.argument("user_names", nargs=-1, required=True, metavar="USER...")
@json_option
@pass_state
def users_delete(state: CliState, user_names: tuple[str, ...], as_json: bool) -> None:
    """Delete users (administer; admin stays). Their tokens stop working.

    \b
    corral users delete bob
    """
    delete_each(state.client(), "/users/", user_names, "user")


# -- groups ---------------------------------------------------------------------------


@click.group()
def groups() -> None:
    """Groups of users and the permissions they give."""


@groups.command("list")
@json_option
@pass_state
def groups_list(state: CliState, as_json: bool) -> None:
    """List groups: name, permissions, members, description.

    \b
    corral groups list
    """
    found = listing(state.client(), "/groups/")
    show_rows(as_json, found, GROUP_COLUMNS, "no groups")


@groups.command("show")
@click.argument("group")
@json_option
@pass_state
def groups_show(state: CliState, group: str, as_json: bool) -> None:
    """Show one group.

    \b
    corral groups show artists
    """
    found = dict(state.client().request("GET", f"/groups/{segment(group)}"))
    show(as_json, found, lambda: print_sheet(found))


@groups.command("create")
@click.argument("name", callback=non_empty)
@click.option("--description", default="")
@permission_option
@click.option("--user", "users", multiple=True, help="A member (repeat).")
@json_option
@pass_state
def groups_create(
    state: CliState, name: str, description: str, permissions: tuple[str, ...],
    users: tuple[str, ...], as_json: bool,
) -> None:  # fmt: skip
    """Create a group (administer).

    \b
    corral groups create artists --permission submit --permission manage_own --user bob
    """
    body = {"name": name, "description": description, "permissions": names(permissions),
            "users": names(users)}  # fmt: skip
    created = dict(state.client().request("POST", "/groups/", body=body))
    show(as_json, created, f"created group {created.get('name')}")


@groups.command("set")
@click.argument("group")
@click.option("--description")
@permission_option
@click.option("--user", "users", multiple=True, help="Replace the members (repeat; '' clears).")
@json_option
@pass_state
def groups_set(
    state: CliState, group: str, description: str | None, permissions: tuple[str, ...],
    users: tuple[str, ...], as_json: bool,
) -> None:  # fmt: skip
    """Change a group's description, permissions or members (administer).

    \b
    corral groups set artists --user bob --user carol
    """
    fields = changes({
        "description": description,
        "permissions": names(permissions) if permissions else None,
        "users": names(users) if users else None,
    })  # fmt: skip
    changed = dict(state.client().request("PATCH", f"/groups/{segment(group)}", body=fields))
    show(as_json, changed, f"updated group {changed.get('name')}")


@groups.command("delete")
@click.argument("group_names", nargs=-1, required=True, metavar="GROUP...")
@json_option
@pass_state
def groups_delete(state: CliState, group_names: tuple[str, ...], as_json: bool) -> None:
    """Delete groups (administer); their members leave them.

    \b
    corral groups delete interns
    """
    delete_each(state.client(), "/groups/", group_names, "group")


USER_COMMANDS = (users_list, users_show, users_create, users_set, users_delete)


def install_account_commands(main: click.Group) -> None:
    """Add the user commands to `users` (beside `passwd`) and the `groups` group."""
    users = main.commands.get("users")
    if not isinstance(users, click.Group):
        raise RuntimeError("the corral group has no users group to extend")
    for command in USER_COMMANDS:
        users.add_command(command)
    main.add_command(groups)
