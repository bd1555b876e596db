from django.apps import AppConfig


class MetricsConfig(AppConfig):
    name = "metrics"
    verbose_name = "Metrics"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.conf import settings

        from events.consumers import register_consumer
        from metrics.services import metrics_event_handle

        if settings.METRICS_ENABLED:
            register_consumer(name="metrics", handle=metrics_event_handle)
