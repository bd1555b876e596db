"""Page forms. They only check the shape of the input; every rule lives in the services (jobs.services)."""

from __future__ import annotations

import re
from decimal import Decimal

from django import forms

from jobs.preflight import JobConstraints
from machines.models import MachineConfig
from machines.registry import get_registry

DEFAULT_MACHINE_TYPE = "printer-3d"


def machine_type_choices() -> list[tuple[str, str]]:
    """The types the lab has active machines of (always including 3D printers), with readable names."""
    slugs = set(MachineConfig.objects.filter(active=True).values_list("machine_type", flat=True).distinct())
    slugs.add(DEFAULT_MACHINE_TYPE)
    registry = get_registry()
    choices = []
    for slug in sorted(slugs):
        type_cls = registry.get_machine_type(slug)
        choices.append((slug, type_cls.NAME if type_cls is not None else slug))
    return choices


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files under one name. Each file is judged on its own by the services (empty, too large,
    not G-code), so one bad file never costs the others: the field only asks for at least one."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": ".gcode,.gco,.g,.bgcode"}))
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None) -> list:
        files = [f for f in (data if isinstance(data, list | tuple) else [data]) if f]
        if not files and self.required:
            raise forms.ValidationError(self.error_messages["required"], code="required")
        return files


class JobSubmitForm(forms.Form):
    file = MultipleFileField(
        label="G-code files",
        help_text="Text G-code (.gcode, .gco, .g) or binary G-code (.bgcode); several at once if you like.",
    )
    name = forms.CharField(
        max_length=200,
        required=False,
        help_text="Defaults to the file name (with several files, each keeps its file name).",
    )
    machine_type = forms.ChoiceField(label="Machine type", initial=DEFAULT_MACHINE_TYPE)
    material = forms.CharField(
        max_length=50, required=False, help_text="e.g. PLA. Empty: the material the file was sliced for."
    )
    colour = forms.CharField(
        max_length=50, required=False, help_text="Spool colour (name or #RRGGBB). Empty: any colour."
    )
    nozzle_diameter = forms.DecimalField(
        label="Nozzle diameter (mm)",
        required=False,
        max_digits=4,
        decimal_places=2,
        min_value=Decimal("0.01"),
    )
    tags = forms.CharField(
        max_length=500, required=False, help_text="Comma-separated; the machine must carry every tag."
    )
    notes = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["machine_type"].choices = machine_type_choices()

    def clean_tags(self) -> tuple[str, ...]:
        tags = tuple(t.strip() for t in re.split(r"[,;]", self.cleaned_data.get("tags") or "") if t.strip())
        too_long = [t for t in tags if len(t) > 50]
        if too_long:
            raise forms.ValidationError(f"tags are at most 50 characters: {', '.join(too_long)}")
        return tags

    def constraints(self) -> JobConstraints:
        data = self.cleaned_data
        return JobConstraints(
            machine_type=data["machine_type"],
            material=data.get("material", "").strip(),
            colour=data.get("colour", "").strip(),
            nozzle_diameter=data.get("nozzle_diameter"),
            tags=data.get("tags") or (),
        )
