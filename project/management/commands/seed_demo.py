"""Demo data: users, then each app's own demo data (`<app>/demo.py: seed(stdout)`). Idempotent."""

import importlib
import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from usercenter import services as usercenter_services

DEMO_USERS = [
    # (username, password, is_superuser)
    ("admin", "admin-pass-123", True),
    ("demo", "demo-pass-123", False),
    ("alice", "demo-pass-123", False),
    ("bob", "demo-pass-123", False),
]
APPS = ["usercenter", "signin", "orders", "redpackets", "staticgen"]


class Command(BaseCommand):
    help = "Load demo data (users, products, an open red-packet campaign, an announcement). Safe to re-run."

    def handle(self, *args, **options):
        started = time.monotonic()
        user_model = get_user_model()
        for username, password, is_superuser in DEMO_USERS:
            user = user_model.objects.filter(username=username).first()
            if user is None:
                user = usercenter_services.user_register(username=username, password=password)
                self.stdout.write(f"  user {username} created")
            if is_superuser and not user.is_superuser:
                user.is_superuser = user.is_staff = True
                user.save(update_fields=["is_superuser", "is_staff"])
        for app in APPS:
            try:
                module = importlib.import_module(f"{app}.demo")
            except ModuleNotFoundError as exc:
                if exc.name != f"{app}.demo":
                    raise
                continue
            self.stdout.write(f"seeding {app} ...")
            module.seed(stdout=self.stdout)
        self.stdout.write(self.style.SUCCESS(f"demo data ready in {time.monotonic() - started:.1f}s"))
        if settings.DEBUG:
            self.stdout.write("logins: admin / admin-pass-123 (admin), demo / demo-pass-123")
