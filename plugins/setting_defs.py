"""Typed setting definitions and their validation, shared by every settings owner.

Machine types and drivers declare ``MACHINE_SETTINGS``; plugin classes declare plugin-wide ``SETTINGS``.
Both use the same format, written as a dict by plugin authors::

    SETTINGS = {
        "HOST": {"name": "Host", "type": "str", "required": True},
        "API_KEY": {"name": "API key", "type": "str", "required": True, "secret": True},
        "POLL_INTERVAL": {"name": "Poll interval (s)", "type": "float", "default": 2, "min": 0.5},
    }

Values are stored as text (``MachineSetting.value``, ``PluginSetting.value``); ``parse`` turns API/admin
input into the typed value (raising ``ValidationError`` with a message for the user) and ``serialize``
writes it back. This lives in ``plugins`` (Django-only imports) because the ``machines`` app imports the
plugin framework's core at load time; ``plugins.base`` importing ``machines`` would close a cycle.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError

SETTING_TYPES = ("str", "int", "float", "bool", "list", "choice")
KEY_PATTERN = re.compile(r"^[A-Z][A-Z0-9_]*$")
_DEFINITION_KEYS = {"name", "description", "type", "default", "required", "secret", "choices", "min", "max"}
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


@dataclass(frozen=True)
class SettingDefinition:
    key: str
    name: str
    config_type: str  # "M" machine type setting, "D" driver setting, "P" plugin-wide setting
    type: str = "str"
    description: str = ""
    default: Any = None
    required: bool = False
    secret: bool = False
    choices: tuple = ()
    min: float | None = None
    max: float | None = None
    extra: dict = field(default_factory=dict, compare=False)

    @classmethod
    def from_dict(cls, key: str, data: dict, *, config_type: str) -> SettingDefinition:
        """Build a definition; raises ValueError saying what is wrong with it."""
        if not isinstance(key, str) or not KEY_PATTERN.match(key):
            raise ValueError(f"setting key {key!r} must be UPPER_SNAKE_CASE")
        if not isinstance(data, dict):
            raise ValueError(f"setting {key}: definition must be a dict, got {type(data).__name__}")
        unknown = set(data) - _DEFINITION_KEYS
        if unknown:
            raise ValueError(f"setting {key}: unknown definition keys {sorted(unknown)}")
        setting_type = data.get("type", "str")
        if setting_type not in SETTING_TYPES:
            raise ValueError(f"setting {key}: type {setting_type!r} is not one of {list(SETTING_TYPES)}")
        choices = tuple(data.get("choices") or ())
        if setting_type == "choice" and not choices:
            raise ValueError(f"setting {key}: type 'choice' needs a non-empty 'choices' list")
        definition = cls(
            key=key,
            name=str(data.get("name") or key),
            config_type=config_type,
            type=setting_type,
            description=str(data.get("description", "")),
            default=None,
            required=bool(data.get("required", False)),
            secret=bool(data.get("secret", False)),
            choices=choices,
            min=data.get("min"),
            max=data.get("max"),
        )
        if data.get("default") is not None:
            try:
                default = definition.parse(data["default"])
            except ValidationError as exc:
                raise ValueError(
                    f"setting {key}: default {data['default']!r} is invalid: {exc.messages[0]}"
                ) from exc
            definition = cls(**{**definition.__dict__, "default": default})
        return definition

    def is_empty(self, value: Any) -> bool:
        return value is None or (isinstance(value, str) and value.strip() == "")

    def parse(self, value: Any) -> Any:
        """Turn API JSON or admin text into the typed value, or raise ValidationError for the user."""
        if self.is_empty(value):
            raise ValidationError("This setting needs a value.")
        parser = getattr(self, f"_parse_{self.type}")
        return parser(value)

    def serialize(self, value: Any) -> str:
        if self.type == "bool":
            return "true" if value else "false"
        if self.type == "list":
            return json.dumps(list(value))
        return str(value)

    def deserialize(self, text: str) -> Any:
        """Read a stored value; a bad stored value (e.g. edited in the database) raises ValidationError."""
        return self.parse(text)

    def as_dict(self) -> dict:
        data = {
            "key": self.key,
            "name": self.name,
            "description": self.description,
            "type": self.type,
            "config_type": self.config_type,
            "required": self.required,
            "secret": self.secret,
            "default": None if self.secret else self.default,
        }
        if self.choices:
            data["choices"] = list(self.choices)
        if self.min is not None:
            data["min"] = self.min
        if self.max is not None:
            data["max"] = self.max
        return data

    # -- parsers -----------------------------------------------------------------------------------
    def _check_range(self, number: float) -> None:
        if self.min is not None and number < self.min:
            raise ValidationError(f"Must be at least {self.min}.")
        if self.max is not None and number > self.max:
            raise ValidationError(f"Must be at most {self.max}.")

    def _parse_str(self, value: Any) -> str:
        if not isinstance(value, str):
            raise ValidationError(f"Expected text, got {type(value).__name__}.")
        return value.strip()

    def _parse_int(self, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int | str | float):
            raise ValidationError(f"Expected a whole number, got {type(value).__name__}.")
        try:
            number = int(value) if not isinstance(value, float) or value.is_integer() else None
        except ValueError:
            number = None
        if number is None:
            raise ValidationError(f"{value!r} is not a whole number.")
        self._check_range(number)
        return number

    def _parse_float(self, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | str | float):
            raise ValidationError(f"Expected a number, got {type(value).__name__}.")
        try:
            number = float(value)
        except ValueError:
            raise ValidationError(f"{value!r} is not a number.") from None
        if number != number or number in (float("inf"), float("-inf")):
            raise ValidationError(f"{value!r} is not a finite number.")
        self._check_range(number)
        return number

    def _parse_bool(self, value: Any) -> bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise ValidationError(f"{value!r} is not true or false.")

    def _parse_list(self, value: Any) -> list[str]:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                try:
                    value = json.loads(text)
                except json.JSONDecodeError:
                    raise ValidationError("Not a valid JSON list.") from None
            else:
                value = [part.strip() for part in text.split(",") if part.strip()]
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise ValidationError("Expected a list of text values.")
        return [item.strip() for item in value]

    def _parse_choice(self, value: Any) -> Any:
        if value not in self.choices:
            raise ValidationError(f"{value!r} is not one of {list(self.choices)}.")
        return value


def build_definitions(raw: dict, *, config_type: str) -> dict[str, SettingDefinition]:
    """Normalise a MACHINE_SETTINGS/SETTINGS dict; raises ValueError naming the first bad definition."""
    if not isinstance(raw, dict):
        name = "SETTINGS" if config_type == "P" else "MACHINE_SETTINGS"
        raise ValueError(f"{name} must be a dict of setting key -> definition")
    return {key: SettingDefinition.from_dict(key, data, config_type=config_type) for key, data in raw.items()}


class SettingsInvalid(ValidationError):
    """Per-setting messages: ``setting_errors`` maps setting key -> list of messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__(errors)
        self.setting_errors = errors

    def api_body(self) -> dict[str, Any]:
        """The one API shape of settings errors, on create and on update, for machines and plugins:
        always under ``settings``, per key (``{"settings": {"PORT": ["Must be at most 65535."]}}``), or a
        list when the value as a whole is wrong (``{"settings": ["Expected an object …"]}``)."""
        errors = self.setting_errors
        return errors if set(errors) == {"settings"} else {"settings": errors}


def masked_messages(definition: SettingDefinition, value: Any, exc: ValidationError) -> list[str]:
    """The messages of a failed parse; a secret's messages never repeat the value that was given."""
    if not definition.secret:
        return exc.messages
    return [message.replace(repr(value), "The value") for message in exc.messages]


def validate_settings(
    definitions: dict[str, SettingDefinition], values: dict[str, Any]
) -> dict[str, tuple[SettingDefinition, str | None]]:
    """Check ``values`` against the definitions; return key -> (definition, text to store or None to unset)."""
    if not isinstance(values, dict):
        raise SettingsInvalid({"settings": ["Expected an object of setting key -> value."]})
    errors: dict[str, list[str]] = {}
    result: dict[str, tuple[SettingDefinition, str | None]] = {}
    for key, value in values.items():
        definition = definitions.get(key)
        if definition is None:
            errors[key] = [f"Unknown setting; valid settings are {sorted(definitions)}."]
            continue
        if definition.is_empty(value):
            if definition.required and definition.default is None:
                errors[key] = ["This setting is required and cannot be cleared."]
            else:
                result[key] = (definition, None)
            continue
        try:
            result[key] = (definition, definition.serialize(definition.parse(value)))
        except ValidationError as exc:
            errors[key] = masked_messages(definition, value, exc)
    if errors:
        raise SettingsInvalid(errors)
    return result


def typed_values(
    definitions: dict[str, SettingDefinition], stored: dict[str, str]
) -> tuple[dict[str, Any], list[str]]:
    """Stored text -> typed values with defaults applied, plus problems to show staff.

    A stored value that no longer parses (edited in the database, definition changed) falls back to
    the default and is reported; the message of a secret never contains its value.
    """
    values: dict[str, Any] = {key: definition.default for key, definition in definitions.items()}
    problems: list[str] = []
    for key, definition in definitions.items():
        text = stored.get(key)
        if text is None or definition.is_empty(text):
            continue
        try:
            values[key] = definition.deserialize(text)
        except ValidationError as exc:
            message = masked_messages(definition, text, exc)[0]
            problems.append(f"Setting {key} has an invalid stored value: {message}")
    missing = [key for key, d in definitions.items() if d.required and d.is_empty(values.get(key))]
    if missing:
        problems.append(f"Missing required settings: {', '.join(missing)}")
    return values, problems
