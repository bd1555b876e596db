from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "Notifications"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from events.consumers import register_consumer
        from mes.engine import schedule
        from mes.signals import demo_fleet_registered
        from notifications import receivers
        from notifications.catalogue import NOTIFIABLE
        from notifications.services import notification_event_handle

        demo_fleet_registered.connect(receivers.on_demo_fleet_registered, dispatch_uid="notifications.demo")
        register_consumer(name="notifications", handle=notification_event_handle, types=set(NOTIFIABLE))
        schedule().add(name="notifications.send", task="notifications.tasks.notifications_send", seconds=10)
        schedule().add(
            name="notifications.digest", task="notifications.tasks.notifications_digest", seconds=3600
        )
