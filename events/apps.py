from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "events"
    verbose_name = "Domain events"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from events.consumers import ConsumerRegistry
        from mes.engine import schedule

        # Higher apps (notifications, webhooks, metrics) register their consumers in their ready().
        self.consumers = ConsumerRegistry()
        schedule().add(name="events.dispatch", task="events.tasks.events_dispatch", seconds=5)
        schedule().add(name="events.prune", task="events.tasks.events_prune", seconds=3600)
