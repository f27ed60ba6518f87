"""Dead letters in the outbox: back-off, the dead state and the operator's decision."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("acctstate", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="outboxentry", name="next_attempt_at", field=models.DateTimeField(null=True)
        ),
        migrations.AddField(
            model_name="outboxentry", name="dead_at", field=models.DateTimeField(null=True)
        ),
        migrations.AddField(
            model_name="outboxentry",
            name="resolved_action",
            field=models.CharField(max_length=10, null=True),
        ),
        migrations.AddField(
            model_name="outboxentry", name="resolution", field=models.TextField(null=True)
        ),
        migrations.AddField(
            model_name="outboxentry",
            name="resolved_by",
            field=models.CharField(max_length=200, null=True),
        ),
        migrations.AddField(
            model_name="outboxentry", name="resolved_at", field=models.DateTimeField(null=True)
        ),
    ]
