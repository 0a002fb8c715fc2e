"""``siprouter-db``: manage subscribers in a store (Kamailio's ``kamctl add/rm/passwd``).

    siprouter-db -d sqlite:///var/lib/siprouter/siprouter.db add alice@example.com secret
    siprouter-db -d sqlite:///... passwd alice@example.com newsecret
    siprouter-db -d sqlite:///... rm alice@example.com
    siprouter-db -d sqlite:///... list

The password is stored with its HA1 (``MD5(user:domain:password)``) and HA1b
(``MD5(user@domain:domain:password)``), as kamctl does, so auth_db works with
``calculate_ha1`` 0 or 1. ``-t`` names the table (default ``subscriber``).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections.abc import Sequence

from app.store import Store, StoreError, Subscriber, drop, open_store


def parser() -> argparse.ArgumentParser:
    """The command line."""
    p = argparse.ArgumentParser(prog="siprouter-db", description="manage siprouter subscribers")
    p.add_argument("-d", "--db-url", required=True, help="sqlite:///path/to.db")
    p.add_argument("-t", "--table", default="subscriber", help="subscriber table")
    sub = p.add_subparsers(dest="command", required=True)
    add = sub.add_parser("add", help="add a subscriber")
    add.add_argument("user", help="USER@DOMAIN")
    add.add_argument("password")
    pw = sub.add_parser("passwd", help="change a password")
    pw.add_argument("user", help="USER@DOMAIN")
    pw.add_argument("password")
    rm = sub.add_parser("rm", help="remove a subscriber")
    rm.add_argument("user", help="USER@DOMAIN")
    sub.add_parser("list", help="list the subscribers")
    return p


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()  # noqa: S324 - digest's HA1 is MD5


def make_subscriber(user_at_domain: str, password: str) -> Subscriber:
    """A subscriber row with password, HA1 and HA1b."""
    user, domain = _split(user_at_domain)
    return Subscriber(
        user, domain, password,
        _md5(f"{user}:{domain}:{password}"), _md5(f"{user}@{domain}:{domain}:{password}"),
    )  # fmt: skip


def _split(text: str) -> tuple[str, str]:
    user, at, domain = text.partition("@")
    if not user or not at or not domain:
        raise StoreError(f"{text!r}: expected USER@DOMAIN")
    return user, domain


def run(store: Store, table: str, args: argparse.Namespace) -> str:
    """Run one command; the text to print."""
    if args.command == "list":
        rows = store.list_subscribers(table)
        return "\n".join(f"{s.username}@{s.domain}" for s in rows)
    user, domain = _split(args.user)
    exists = store.get_subscriber(table, user, domain) is not None
    if args.command == "rm":
        if not store.delete_subscriber(table, user, domain):
            raise StoreError(f"no subscriber {args.user}")
        return f"removed {args.user}"
    if args.command == "add" and exists:
        raise StoreError(f"{args.user} exists (use passwd)")
    if args.command == "passwd" and not exists:
        raise StoreError(f"no subscriber {args.user}")
    store.put_subscriber(table, make_subscriber(args.user, args.password))
    return f"{'added' if args.command == 'add' else 'password changed for'} {args.user}"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``siprouter-db``."""
    args = parser().parse_args(argv)
    try:
        store = open_store(args.db_url)
        try:
            text = run(store, args.table, args)
        finally:
            drop(store)
    except StoreError as exc:
        print(f"siprouter-db: {exc}", file=sys.stderr)
        return 1
    if text:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
