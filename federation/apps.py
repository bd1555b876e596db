from django.apps import AppConfig


class FederationConfig(AppConfig):
    name = "federation"
    verbose_name = "Federation (partner labs)"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # In ready(), not at the top: the jobs app's models load only once the app registry is ready.
        from federation import receivers
        from federation.jobs_gateway import job_signals
        from mes.engine import schedule
        from mes.signals import bootstrapped

        bootstrapped.connect(receivers.create_identity, dispatch_uid="federation-identity")
        job_signals.job_state_changed.connect(
            receivers.job_state_changed, dispatch_uid="federation-job-state"
        )
        job_signals.job_remote_runs.connect(receivers.job_remote_runs, dispatch_uid="federation-remote-runs")
        job_signals.job_remote_cancel.connect(
            receivers.job_remote_cancel, dispatch_uid="federation-remote-cancel"
        )

        schedule().add(
            name="federation.deliver-events", task="federation.tasks.deliver_due_events", seconds=10
        )
        # Progress of partner jobs printing here (the jobs app records progress without a signal).
        schedule().add(
            name="federation.report-progress",
            task="federation.tasks.report_partner_job_progress",
            seconds=5,
        )
        schedule().add(
            name="federation.clean-nonces", task="federation.tasks.clean_seen_nonces", seconds=3600
        )
        schedule().add(
            name="federation.purge-old-records", task="federation.tasks.purge_old_records", seconds=86400
        )
