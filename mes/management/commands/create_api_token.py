from __future__ import annotations

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from mes.models import TOKEN_SCOPE_NAMES
from mes.services import api_token_create


class Command(BaseCommand):
    help = "Create a scoped, expiring API token for a user and print it once."

    def add_arguments(self, parser):
        parser.add_argument("--user", required=True, help="username the token acts as")
        parser.add_argument("--name", default="cli token")
        parser.add_argument(
            "--scope",
            action="append",
            dest="scopes",
            required=True,
            help=f"repeatable; one of {TOKEN_SCOPE_NAMES}",
        )
        parser.add_argument("--days", type=int, default=90, help="lifetime in days (at most 366)")

    def handle(self, *args, **options):
        user = get_user_model().objects.filter(username=options["user"]).first()
        if user is None:
            raise CommandError(f"No user named {options['user']!r}.")
        if options["days"] < 1:
            raise CommandError("--days must be at least 1.")
        try:
            token, raw = api_token_create(
                user=user,
                name=options["name"],
                scopes=options["scopes"],
                expires_at=timezone.now() + timedelta(days=options["days"]),
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        self.stderr.write(
            f"Token {token.prefix} for {user} expires {token.expires_at:%Y-%m-%d}. Shown only once:"
        )
        self.stdout.write(raw)
