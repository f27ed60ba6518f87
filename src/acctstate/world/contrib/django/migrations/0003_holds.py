"""Holds: one row per hold placed on an account, standing until released."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("acctstate", "0002_outbox_dead_letters"),
    ]

    operations = [
        migrations.CreateModel(
            name="Hold",
            fields=[
                ("seq", models.BigAutoField(primary_key=True, serialize=False)),
                ("account_model", models.CharField(max_length=100)),
                ("account_id", models.CharField(max_length=200)),
                ("hold_id", models.CharField(max_length=200)),
                ("type", models.CharField(max_length=100)),
                ("kind", models.CharField(max_length=30)),
                ("blocks", models.CharField(max_length=100)),
                ("since", models.DateTimeField()),
                ("until", models.DateTimeField(null=True)),
                ("reason", models.CharField(max_length=100, null=True)),
                ("note", models.TextField(null=True)),
                ("actor_id", models.CharField(max_length=200, null=True)),
                ("actor_kind", models.CharField(max_length=20, null=True)),
                ("actor_permissions", models.TextField(null=True)),
                ("placed_version", models.PositiveIntegerField()),
                ("released_at", models.DateTimeField(null=True)),
                ("released_version", models.PositiveIntegerField(null=True)),
            ],
            options={
                "verbose_name": "hold",
                "verbose_name_plural": "holds",
                "default_permissions": ("view",),
                "constraints": [
                    models.UniqueConstraint(
                        condition=models.Q(("released_at__isnull", True)),
                        fields=("account_model", "account_id", "hold_id"),
                        name="acctstate_hold_standing",
                    )
                ],
            },
        ),
    ]
