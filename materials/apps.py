from django.apps import AppConfig


class MaterialsConfig(AppConfig):
    name = "materials"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = "Materials and spools"

    def ready(self) -> None:
        from materials import receivers
        from mes.signals import demo_fleet_registered

        demo_fleet_registered.connect(receivers.on_demo_fleet_registered, dispatch_uid="materials.demo")
