"""python manage.py seed_console: one console user per role, with printed passwords."""

from django.core.management.base import BaseCommand

from wallets.console.seed import console_users_seed


class Command(BaseCommand):
    help = "Create (or reset) one console user per role and print their passwords."

    def add_arguments(self, parser):
        parser.add_argument(
            "--password", help="use this password for every user (default: a random one each)"
        )
        parser.add_argument(
            "--operator", default="ICBC", help="the operator op_staff works for (default ICBC)"
        )

    def handle(self, *args, password=None, operator="ICBC", **options):
        users, staff_operator = console_users_seed(password=password, operator_code=operator)
        self.stdout.write("Console users (log in at /admin/):\n")
        width = max(len(user.username) for user in users)
        for user in users:
            self.stdout.write(
                f"  {user.username:<{width}}  password {user.password}  [{user.role}] {user.does}"
            )
        self.stdout.write(f"op_staff works for {staff_operator.code}.")
