# SMPP (issue 23): the `smpp` backend and the parts of multipart SMPP messages.
import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("broadcasts", "0016_variants")]

    operations = [
        migrations.AlterField(
            model_name="connector",
            name="backend",
            field=models.CharField(
                choices=[
                    ("simulator", "Simulator"),
                    ("http", "Generic HTTP"),
                    ("twilio", "Twilio"),
                    ("telegram", "Telegram Bot API"),
                    ("whatsapp_cloud", "WhatsApp Cloud API"),
                    ("smpp", "SMPP 3.4"),
                ],
                max_length=32,
            ),
        ),
        migrations.CreateModel(
            name="SmppPart",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("connector", models.CharField(max_length=64)),
                ("seq", models.PositiveSmallIntegerField()),
                ("provider_message_id", models.CharField(max_length=128)),
                (
                    "status",
                    models.CharField(
                        choices=[("sent", "Sent"), ("delivered", "Delivered"), ("failed", "Failed")],
                        default="sent",
                        max_length=16,
                    ),
                ),
                ("error_code", models.CharField(blank=True, max_length=64)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "message",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="smpp_parts",
                        to="broadcasts.message",
                    ),
                ),
            ],
            options={
                "indexes": [models.Index(fields=["connector", "provider_message_id"], name="smpp_part_provider_id")],
                "constraints": [models.UniqueConstraint(fields=("message", "seq"), name="smpp_part_once")],
            },
        ),
    ]
