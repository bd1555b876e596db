"""The staff dashboard (/dashboard/): utilisation, outcomes, failure reasons, queue waits and usage by
user and group over a range of days (``?from=YYYY-MM-DD&to=YYYY-MM-DD``, default the last 14), each
table also as CSV (``?format=csv&table=<name>``). Reads in jobs.dashboard; the charts are SVG drawn here."""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from jobs import dashboard as reads
from jobs.views import staff_required

TABLES = ("utilisation", "outcomes", "reasons", "waits", "users", "groups")
HEAT_LEVELS = 5  # colour steps of the heat map (site.css .heat-1 … .heat-5; .heat-0 for nothing)


class RangeForm(forms.Form):
    """The range in the URL: ``from`` and ``to`` (both days included), at most MAX_DAYS long."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # "from" is a Python keyword, so the fields are added by name rather than declared.
        self.fields["from"] = forms.DateField(
            required=False, label="From", widget=forms.DateInput({"type": "date"})
        )
        self.fields["to"] = forms.DateField(
            required=False, label="To", widget=forms.DateInput({"type": "date"})
        )

    def clean(self):
        data = super().clean()
        start, end = data.get("from"), data.get("to")
        if self.errors:
            return data
        default = reads.DayRange.last()
        if start is None and end is None:
            start, end = default.start, default.end
        elif start is None:
            start = end - dt.timedelta(days=reads.DEFAULT_DAYS - 1)
        elif end is None:
            end = start + dt.timedelta(days=reads.DEFAULT_DAYS - 1)
        if start > end:
            raise forms.ValidationError("“From” must be on or before “To”.", code="order")
        if (end - start).days + 1 > reads.MAX_DAYS:
            raise forms.ValidationError(
                f"Choose at most {reads.MAX_DAYS} days (this range has {(end - start).days + 1}).",
                code="length",
            )
        data["range"] = reads.DayRange(start=start, end=end)
        return data


# -- presentation --------------------------------------------------------------------------------------
def duration_text(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


@dataclass(frozen=True)
class HeatCell:
    day: dt.date
    hours: float
    percent: int  # of 24 h, capped at 100
    level: int  # 0 (nothing) … HEAT_LEVELS
    iso: str = ""  # the day as YYYY-MM-DD
    title: str = ""  # "Tue 10 Mar: 6.5 h printing (27 %)"


def heat_cells(row: reads.MachineRow, days: list[dt.date]) -> list[HeatCell]:
    """The row's cells, their text written here once (the template only places them: 40 machines by 90 days is 3,600)."""
    labels = {day: f"{day:%a %-d %b}" for day in days}
    isos = {day: day.isoformat() for day in days}
    cells = []
    for day, hours in zip(days, row.hours, strict=True):
        percent = round(min(hours / 24, 1.0) * 100)
        # Steps of 20 %, from the number the cell shows, so colour and legend always agree.
        level = 0 if percent == 0 else min(HEAT_LEVELS, 1 + percent // 20)
        title = f"{labels[day]}: {hours:.1f} h printing ({percent} %)"
        cells.append(HeatCell(day, hours, percent, level, iso=isos[day], title=title))
    return cells


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    height: float
    title: str
    kind: str  # "completed" | "failed"

    @property
    def geometry(self) -> str:
        """The rect's x, y and height attributes, written once here rather than by template filters."""
        return f'x="{self.x:.2f}" y="{self.y:.2f}" height="{self.height:.2f}"'


@dataclass(frozen=True)
class BarChart:
    bars: list[Bar]
    y_ticks: list[tuple[float, str]]
    x_labels: list[tuple[float, str]]
    bar_width: float
    summary: str
    width: int = 960
    height: int = 230
    left: int = 40
    bottom: int = 200


def _nice_max(value: int) -> int:
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000):
        if value <= step * 5:
            return step * max(1, -(-value // step))
    return value


def outcome_chart(outcomes: list[reads.OutcomeDay]) -> BarChart:
    """Finished and failed jobs per day, side by side (failed also hatched: not colour alone)."""
    width, left, top, bottom = 960, 40, 10, 200
    top_value = _nice_max(max([1, *(max(d.completed, d.failed) for d in outcomes)]))
    step = next(s for s in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000) if top_value / s <= 5)
    slot = (width - left - 4) / max(len(outcomes), 1)
    bar_width = max(slot * 0.4, 1.0)

    def y(value: float) -> float:
        return bottom - (bottom - top) * value / top_value

    bars = []
    for index, day in enumerate(outcomes):
        x0 = left + index * slot + slot * 0.1
        label = f"{day.day:%a %-d %b}"
        bars.append(
            Bar(
                x0,
                y(day.completed),
                bottom - y(day.completed),
                f"{label}: {day.completed} finished",
                "completed",
            )
        )
        bars.append(
            Bar(
                x0 + bar_width,
                y(day.failed),
                bottom - y(day.failed),
                f"{label}: {day.failed} failed",
                "failed",
            )
        )
    every = max(1, -(-len(outcomes) // 8))
    x_labels = [
        (left + index * slot + slot / 2, f"{day.day:%-d %b}")
        for index, day in enumerate(outcomes)
        if index % every == 0
    ]
    ticks = [(y(value), str(value)) for value in range(0, top_value + 1, step)]
    completed = sum(d.completed for d in outcomes)
    failed = sum(d.failed for d in outcomes)
    summary = (
        f"Jobs finished and failed per day from {outcomes[0].day:%-d %b %Y} to {outcomes[-1].day:%-d %b %Y}: "
        f"{completed} finished, {failed} failed"
        if outcomes
        else "No days"
    )
    return BarChart(bars=bars, y_ticks=ticks, x_labels=x_labels, bar_width=bar_width, summary=summary)


# -- CSV -------------------------------------------------------------------------------------------------
def _csv_rows(table: str, day_range: reads.DayRange) -> list[list]:
    if table == "utilisation":
        rows = [["machine", "day", "print_hours", "utilisation_percent"]]
        for machine in reads.utilisation(day_range):
            for cell in heat_cells(machine, day_range.days):
                rows.append([machine.name, cell.day.isoformat(), f"{cell.hours:.2f}", cell.percent])
        return rows
    if table == "outcomes":
        return [["day", "finished", "failed"]] + [
            [day.day.isoformat(), day.completed, day.failed] for day in reads.outcomes_per_day(day_range)
        ]
    if table == "reasons":
        return [["reason", "failed_jobs"]] + [list(row) for row in reads.failure_reasons(day_range)]
    if table == "waits":
        waits = reads.queue_waits(day_range)
        fmt = lambda s: "" if s is None else f"{s:.0f}"  # noqa: E731
        return [
            ["dispatches", "p50_seconds", "p90_seconds"],
            [waits.count, fmt(waits.p50_seconds), fmt(waits.p90_seconds)],
        ]
    usage = reads.usage_by_user(day_range) if table == "users" else reads.usage_by_group(day_range)
    return [[table[:-1], "jobs", "print_hours", "grams"]] + [
        [row.name, row.jobs, f"{row.hours:.2f}", f"{row.grams:.2f}"] for row in usage
    ]


def csv_response(table: str, day_range: reads.DayRange) -> HttpResponse:
    name = f"dashboard-{table}-{day_range.start.isoformat()}-{day_range.end.isoformat()}.csv"
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    writer = csv.writer(response)
    for row in _csv_rows(table, day_range):
        writer.writerow(row)
    return response


# -- the page ------------------------------------------------------------------------------------------
@require_GET
@staff_required
def dashboard(request: HttpRequest) -> HttpResponse:
    form = RangeForm(request.GET or None)
    valid = form.is_valid() if form.is_bound else True
    day_range = form.cleaned_data["range"] if form.is_bound and valid else reads.DayRange.last()
    wants_csv = request.GET.get("format") == "csv"
    if wants_csv:
        table = request.GET.get("table", "")
        if table not in TABLES:
            return HttpResponse(
                f"Unknown table {table!r}: one of {', '.join(TABLES)}.\n",
                status=400,
                content_type="text/plain",
            )
        if not valid:
            problems = "; ".join(str(e) for errors in form.errors.values() for e in errors)
            return HttpResponse(f"Bad range: {problems}\n", status=400, content_type="text/plain")
        return csv_response(table, day_range)
    if not form.is_bound:
        form = RangeForm(initial={"from": day_range.start, "to": day_range.end})
    context = {"form": form, "valid": valid, "range": day_range}
    if valid:
        page = reads.dashboard(day_range)
        days = day_range.days
        context.update(
            page=page,
            days=days,
            heat_rows=[(machine, heat_cells(machine, days)) for machine in page.machines],
            chart=outcome_chart(page.outcomes),
            wait_p50=duration_text(page.waits.p50_seconds),
            wait_p90=duration_text(page.waits.p90_seconds),
            query=f"from={day_range.start.isoformat()}&to={day_range.end.isoformat()}",
            tables=TABLES,
        )
    return render(request, "dashboard/page.html", context, status=200 if valid else 400)
