"""Each account's current limit day and year move onto its row (settlement/usage.py):
settlement rewrites a payer's row for its balance anyway, and the usage upsert it no
longer runs was a tenth of a batch's time under its accounts' locks. The latest DAY and
YEAR usage rows of each account move onto it; the earlier ones stay in LimitUsage."""

from django.db import migrations, models

ACCOUNTS = "settlement_account"
USAGE = "settlement_limitusage"


def _moved_on(prefix: str, period: str) -> list[str]:
    own = f"u.account_id = {ACCOUNTS}.id AND u.period = '{period}'"
    return [
        f"UPDATE {ACCOUNTS} SET {prefix}_start = (SELECT MAX(u.start) FROM {USAGE} u WHERE {own})",
        f"UPDATE {ACCOUNTS} SET {prefix}_spent = COALESCE((SELECT u.spent FROM {USAGE} u "
        f"WHERE {own} AND u.start = {ACCOUNTS}.{prefix}_start), 0)",
        f"DELETE FROM {USAGE} WHERE period = '{period}' AND EXISTS (SELECT 1 FROM {ACCOUNTS} "
        f"WHERE {ACCOUNTS}.id = {USAGE}.account_id AND {ACCOUNTS}.{prefix}_start = {USAGE}.start)",
    ]


def _moved_back(prefix: str, period: str) -> list[str]:
    return [
        f"INSERT INTO {USAGE} (account_id, period, start, spent) "
        f"SELECT id, '{period}', {prefix}_start, {prefix}_spent FROM {ACCOUNTS} "
        f"WHERE {prefix}_start IS NOT NULL"
    ]


class Migration(migrations.Migration):
    dependencies = [("settlement", "0020_usage_account_index_in_the_unique_one")]

    operations = [
        migrations.AddField(
            model_name="account", name="day_start", field=models.DateField(blank=True, null=True)
        ),
        migrations.AddField(
            model_name="account", name="day_spent", field=models.BigIntegerField(default=0)
        ),
        migrations.AddField(
            model_name="account", name="year_start", field=models.DateField(blank=True, null=True)
        ),
        migrations.AddField(
            model_name="account", name="year_spent", field=models.BigIntegerField(default=0)
        ),
        migrations.RunSQL(
            _moved_on("day", "DAY") + _moved_on("year", "YEAR"),
            reverse_sql=_moved_back("day", "DAY") + _moved_back("year", "YEAR"),
        ),
        migrations.AddConstraint(
            model_name="account",
            constraint=models.CheckConstraint(
                condition=models.Q(("day_spent__gte", 0), ("year_spent__gte", 0)),
                name="account_usage_not_negative",
            ),
        ),
    ]
