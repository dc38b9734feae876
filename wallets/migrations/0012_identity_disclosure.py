"""Controllable anonymity: a cap on the wallets of a class one person holds across
operators (`WalletClass.wallets_per_person`, counted under a `LinkedPerson` row lock), and
identity disclosures with their approvals.

The seeded cap is written out here, as it was when this migration was made (a migration
imports no live code): one open class-4 (anonymous) wallet per person, classes 1-3 none.
"""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


# class -> open personal wallets one person may hold across operators; None: no cap.
WALLETS_PER_PERSON = {4: 1}


def seed_caps(apps, schema_editor):
    WalletClass = apps.get_model("wallets", "WalletClass")
    for number, cap in WALLETS_PER_PERSON.items():
        WalletClass.objects.filter(number=number, wallets_per_person__isnull=True).update(
            wallets_per_person=cap
        )


class Migration(migrations.Migration):
    dependencies = [
        ("wallets", "0011_idempotency_created_index"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="LinkedPerson",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("identity_link", models.CharField(max_length=64, unique=True)),
            ],
        ),
        migrations.AddField(
            model_name="historicalwalletclass",
            name="wallets_per_person",
            field=models.PositiveSmallIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="walletclass",
            name="wallets_per_person",
            field=models.PositiveSmallIntegerField(blank=True, null=True),
        ),
        migrations.CreateModel(
            name="IdentityDisclosure",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("reason", models.CharField(max_length=240)),
                ("requested_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("expires_at", models.DateTimeField()),
                ("approvals_needed", models.PositiveSmallIntegerField()),
                (
                    "state",
                    models.CharField(
                        choices=[
                            ("REQUESTED", "Requested"),
                            ("APPROVED", "Approved"),
                            ("REJECTED", "Rejected"),
                            ("EXPIRED", "Expired"),
                        ],
                        default="REQUESTED",
                        max_length=10,
                    ),
                ),
                ("decided_at", models.DateTimeField(blank=True, null=True)),
                ("access_until", models.DateTimeField(blank=True, null=True)),
                ("rejection_reason", models.CharField(blank=True, max_length=240)),
                (
                    "holder",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="disclosures",
                        to="wallets.holder",
                    ),
                ),
                (
                    "rejected_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "requested_by",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "ordering": ["-requested_at", "-pk"],
            },
        ),
        migrations.CreateModel(
            name="DisclosureApproval",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("approved_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "approver",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "requested_by",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "disclosure",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="approvals",
                        to="wallets.identitydisclosure",
                    ),
                ),
            ],
            options={
                "ordering": ["approved_at", "pk"],
            },
        ),
        migrations.AddConstraint(
            model_name="identitydisclosure",
            constraint=models.CheckConstraint(
                condition=models.Q(("approvals_needed__gte", 2)),
                name="disclosure_two_approvals_at_least",
            ),
        ),
        migrations.AddConstraint(
            model_name="identitydisclosure",
            constraint=models.CheckConstraint(
                condition=models.Q(("state", "EXPIRED"), _negated=True),
                name="disclosure_expiry_is_not_stored",
            ),
        ),
        migrations.AddConstraint(
            model_name="identitydisclosure",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(
                        ("access_until__isnull", False),
                        ("decided_at__isnull", False),
                        ("state", "APPROVED"),
                    ),
                    models.Q(
                        models.Q(("state", "APPROVED"), _negated=True),
                        ("access_until__isnull", True),
                    ),
                    _connector="OR",
                ),
                name="disclosure_access_iff_approved",
            ),
        ),
        migrations.AddConstraint(
            model_name="identitydisclosure",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(
                        ("decided_at__isnull", False),
                        ("rejected_by__isnull", False),
                        ("state", "REJECTED"),
                        models.Q(("rejection_reason", ""), _negated=True),
                    ),
                    models.Q(
                        models.Q(("state", "REJECTED"), _negated=True),
                        ("rejected_by__isnull", True),
                    ),
                    _connector="OR",
                ),
                name="disclosure_rejection_has_who_and_why",
            ),
        ),
        migrations.AddConstraint(
            model_name="identitydisclosure",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("rejected_by__isnull", True),
                    models.Q(("rejected_by", models.F("requested_by")), _negated=True),
                    _connector="OR",
                ),
                name="disclosure_rejecter_not_requester",
            ),
        ),
        migrations.AddConstraint(
            model_name="disclosureapproval",
            constraint=models.UniqueConstraint(
                fields=("disclosure", "approver"), name="disclosure_one_approval_each"
            ),
        ),
        migrations.AddConstraint(
            model_name="disclosureapproval",
            constraint=models.CheckConstraint(
                condition=models.Q(("approver", models.F("requested_by")), _negated=True),
                name="disclosure_approver_not_requester",
            ),
        ),
        migrations.RunPython(seed_caps, migrations.RunPython.noop),
    ]
