from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "jobs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from jobs import receivers
        from jobs.demo import on_demo_fleet_registered
        from jobs.forecast_store import FORECAST_TICK_SECONDS
        from jobs.policy import usage_by_owner
        from mes.engine import schedule
        from mes.signals import demo_fleet_registered
        from policies.selectors import set_usage_provider

        receivers.connect()
        # After policies' and materials' receivers (earlier in INSTALLED_APPS): trainings and spools exist.
        demo_fleet_registered.connect(on_demo_fleet_registered, dispatch_uid="jobs.demo")
        set_usage_provider(usage_by_owner)  # quotas count print time and grams of the owners' jobs
        # Event-driven runs cover the normal case; the sweep catches lost events, stuck dispatches and
        # control requests a printer did not act on.
        schedule().add(name="jobs.scheduler-sweep", task="jobs.tasks.scheduler_run", seconds=10)
        # Polls reconcile when a printer's report changes; the sweep judges the rest (a start that
        # never took, a job changed on our side while the printer's report stayed the same).
        schedule().add(name="jobs.reconcile-sweep", task="jobs.tasks.reconcile_sweep", seconds=30)
        # The stored ETA forecast: recomputed when a receiver marked it dirty, and every minute.
        schedule().add(
            name="jobs.forecast-refresh", task="jobs.tasks.forecast_refresh", seconds=FORECAST_TICK_SECONDS
        )
        schedule().add(name="jobs.purge-old-files", task="jobs.tasks.job_files_purge", seconds=3600)
        # Uploads checked on the submit page but never confirmed (nor cancelled) go after JOBS_PREVIEW_HOURS.
        schedule().add(name="jobs.purge-previews", task="jobs.tasks.staged_uploads_purge", seconds=900)
