from django.apps import AppConfig


class OpcuaConfig(AppConfig):
    name = "opcua"
    verbose_name = "OPC UA bridge"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from opcua import (
            checks,  # noqa: F401 - registers the configuration checks
            requests,
            wiring,
        )

        wiring.connect()
        requests.connect()

        from mes.health import register_check
        from opcua.health import check_opcua

        register_check("opcua", check_opcua, critical=False)  # the lab's server may be away
