from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Webhooks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from events.consumers import register_consumer
        from mes.engine import schedule
        from webhooks.services import webhook_event_handle

        register_consumer(name="webhooks", handle=webhook_event_handle)
        # Retries become due on their own schedule; this picks them up.
        schedule().add(name="webhooks.deliver-due", task="webhooks.tasks.webhooks_deliver_due", seconds=5)
