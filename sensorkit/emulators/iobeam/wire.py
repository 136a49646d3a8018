"""What a valid iobeam request looks like: pure checks of request data, each failure an HttpError saying where.

Kept apart from the server so the rules of the wire format (series names,
device ids, the 1000-point limit, microsecond times) read in one place and
are testable without sockets. Messages point at the offending item with a
path into the body (``sources.data[3][2]``) and show the value cut short,
because a message must point at the problem, not echo the request.
"""
from __future__ import annotations

import json
import math
import re
from typing import Any, Union

from sensorkit.emulators._http import HttpError, Request

DEVICE_ID_PATTERN = re.compile(r"[a-zA-Z0-9_:-]+")  # matched whole: `$` would let a trailing newline through
RESERVED_SERIES = frozenset({"time", "time_offset", "all"})  # compared case-insensitively
MAX_POINTS_PER_IMPORT = 1000
INT64_MAX = 2**63 - 1  # SQLite's integers, and so the range of times and integer values
INT64_MIN = -(2**63)
DIGITS = re.compile(r"[0-9]+")  # ASCII only: int() would also take "٣" or "+3"
_DURATION = re.compile(r"([1-9][0-9]*)([wdhms])")
_DURATION_UNITS_S = {"w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1}

Value = Union[int, float]
Point = tuple[str, int, Value]  # series, time_us, value


def show(value: Any) -> str:
    """`value` as JSON for a message, cut short: a message must point at the problem, not echo the request."""
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def json_type(value: Any) -> str:
    for kind, name in ((bool, "a boolean"), (str, "a string"), (list, "an array"), (dict, "an object")):
        if isinstance(value, kind):
            return name
    return "null" if value is None else "a number"


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)  # JSON true is not a number


def check_keys(obj: dict[str, Any], where: str, required: tuple[str, ...], optional: tuple[str, ...] = ()) -> None:
    for key in required:
        if key not in obj:
            raise HttpError(400, f"{where}: missing key {key!r}")
    unknown = sorted(set(obj) - set(required) - set(optional))
    if unknown:
        raise HttpError(400, f"{where}: unknown key {unknown[0]!r}; expected {', '.join(required + optional)}")


def object_body(request: Request) -> dict[str, Any]:
    body = request.json()
    if not isinstance(body, dict):
        raise HttpError(400, f"the body must be a JSON object, not {json_type(body)}")
    return body


def check_project_id(value: Any) -> int:
    if not is_int(value) or value <= 0:
        raise HttpError(400, f"project_id: must be a positive integer, not {show(value)}")
    return value


def check_device_id(value: Any, where: str) -> str:
    if not isinstance(value, str) or not DEVICE_ID_PATTERN.fullmatch(value):
        raise HttpError(400, f"{where}: a device id is a non-empty string of letters, digits, _, : and -; "
                             f"not {show(value)}")
    return value


def check_series_name(name: Any, where: str) -> str:
    if not isinstance(name, str) or not name:
        raise HttpError(400, f"{where}: a series name must be a non-empty string, not {show(name)}")
    if name.lower() in RESERVED_SERIES:
        raise HttpError(400, f"{where}: {name!r} is reserved (time, time_offset and all, in any case); "
                             "rename the series")
    return name


def check_time(value: Any, where: str) -> int:
    if not is_int(value) or value < 0:
        raise HttpError(400, f"{where}: time must be a non-negative integer of microseconds, not {show(value)}")
    if value > INT64_MAX:
        raise HttpError(400, f"{where}: time {value} is too large for microseconds since the epoch")
    return value


def check_value(value: Any, where: str, expected: str) -> Value:
    if isinstance(value, float) and math.isfinite(value):
        return value
    if is_int(value) and INT64_MIN <= value <= INT64_MAX:
        return value
    if is_int(value) or isinstance(value, float):
        raise HttpError(400, f"{where}: value {show(value)} is out of range (64-bit integer or finite float)")
    raise HttpError(400, f"{where}: value must be {expected}, not {show(value)}")


def _too_many(points: int, detail: str) -> HttpError:
    return HttpError(400, f"sources: {detail} = {points} points; at most {MAX_POINTS_PER_IMPORT} points per "
                          "request, split the batch")


def import_envelope(body: dict[str, Any]) -> tuple[int, str]:
    """The project and device of an import body, after checking its keys and timefmt."""
    check_keys(body, "body", ("project_id", "device_id", "timefmt", "sources"))
    project_id = check_project_id(body["project_id"])
    device_id = check_device_id(body["device_id"], "device_id")
    if body["timefmt"] != "usec":
        raise HttpError(400, f'timefmt: must be "usec" (microseconds), not {show(body["timefmt"])}')
    return project_id, device_id


def table_points(sources: Any) -> tuple[list[str], list[Point]]:
    """The column names and points of a table-format `sources`; HttpError 400 naming the first problem."""
    if not isinstance(sources, dict):
        raise HttpError(400, f'sources: the table format needs an object {{"fields": [...], "data": [...]}}, '
                             f"not {json_type(sources)}")
    check_keys(sources, "sources", ("fields", "data"))
    fields, rows = sources["fields"], sources["data"]
    if not isinstance(fields, list) or len(fields) < 2:
        raise HttpError(400, 'sources.fields: must be a list of "time" and at least one column name')
    if fields[0] != "time":
        raise HttpError(400, f'sources.fields[0]: must be "time", not {show(fields[0])}')
    columns: list[str] = []
    for index, name in enumerate(fields[1:], 1):
        check_series_name(name, f"sources.fields[{index}]")
        if name in columns:
            raise HttpError(400, f"sources.fields[{index}]: column {name!r} appears twice")
        columns.append(name)
    if not isinstance(rows, list):
        raise HttpError(400, f"sources.data: must be a list of rows, not {json_type(rows)}")
    if len(rows) * len(columns) > MAX_POINTS_PER_IMPORT:
        raise _too_many(len(rows) * len(columns), f"{len(rows)} rows x {len(columns)} columns")
    points: list[Point] = []
    width = len(fields)
    for r, row in enumerate(rows):
        # The common case in a few tests per cell; anything else takes the checks that say what is wrong.
        if type(row) is list and len(row) == width and type(row[0]) is int and 0 <= row[0] <= INT64_MAX:
            time_us = row[0]
            cells = [(name, time_us, value) for name, value in zip(columns, row[1:]) if value is not None]
            if all((type(v) is float and math.isfinite(v)) or (type(v) is int and INT64_MIN <= v <= INT64_MAX)
                   for _, _, v in cells):
                points += cells
                continue
        points += _table_row(columns, row, width, f"sources.data[{r}]")
    return columns, points


def _table_row(columns: list[str], row: Any, width: int, where: str) -> list[Point]:
    if not isinstance(row, list) or len(row) != width:
        raise HttpError(400, f"{where}: a row must be a list of {width} items (time, then one value per "
                             f"column), not {show(row)}")
    time_us = check_time(row[0], f"{where}[0]")
    return [(columns[c - 1], time_us, check_value(value, f"{where}[{c}]", "a number or null"))
            for c, value in enumerate(row[1:], 1) if value is not None]


def series_points(sources: Any) -> tuple[list[str], list[Point]]:
    """The series names and points of a series-format (legacy) `sources`; HttpError 400 naming the first problem."""
    if not isinstance(sources, list):
        raise HttpError(400, f'sources: the series format needs a list of {{"name", "data"}} objects, '
                             f"not {json_type(sources)} (the table format is sent with ?fmt=table)")
    total = sum(len(s["data"]) for s in sources if isinstance(s, dict) and isinstance(s.get("data"), list))
    if total > MAX_POINTS_PER_IMPORT:
        raise _too_many(total, f"{len(sources)} series")
    names: list[str] = []
    points: list[Point] = []
    for s, source in enumerate(sources):
        where = f"sources[{s}]"
        if not isinstance(source, dict):
            raise HttpError(400, f'{where}: must be an object {{"name", "data"}}, not {json_type(source)}')
        check_keys(source, where, ("name", "data"))
        name = check_series_name(source["name"], f"{where}.name")
        if name in names:
            raise HttpError(400, f"{where}.name: series {name!r} appears twice")
        names.append(name)
        data = source["data"]
        if not isinstance(data, list):
            raise HttpError(400, f"{where}.data: must be a list of points, not {json_type(data)}")
        for p, point in enumerate(data):
            # The common case in one test per point; anything else takes the checks that say what is wrong.
            if type(point) is dict and len(point) == 2:
                time_us, value = point.get("time"), point.get("value")
                if (type(time_us) is int and 0 <= time_us <= INT64_MAX
                        and ((type(value) is float and math.isfinite(value))
                             or (type(value) is int and INT64_MIN <= value <= INT64_MAX))):
                    points.append((name, time_us, value))
                    continue
            points.append(_series_point(name, point, f"{where}.data[{p}]"))
    return names, points


def _series_point(name: str, point: Any, at: str) -> Point:
    if not isinstance(point, dict):
        raise HttpError(400, f'{at}: must be an object {{"time", "value"}}, not {json_type(point)}')
    check_keys(point, at, ("time", "value"))
    return name, check_time(point["time"], at), check_value(point["value"], at, "a number")


def int_param(params: dict[str, str], name: str, default: int | None, minimum: int, maximum: int) -> int | None:
    text = params.get(name)
    if text is None:
        return default
    if not DIGITS.fullmatch(text) or not minimum <= int(text) <= maximum:
        raise HttpError(400, f"{name}: must be a whole number from {minimum} to {maximum}, not {text!r}")
    return int(text)


def bool_param(params: dict[str, str], name: str) -> bool:
    text = params.get(name, "false")
    if text not in ("true", "false"):
        raise HttpError(400, f"{name}: must be true or false, not {text!r}")
    return text == "true"


def duration_s(text: str) -> int:
    match = _DURATION.fullmatch(text)
    if match is None:
        raise HttpError(400, f"duration: must be a whole number and a unit w, d, h, m or s (like 5w or 12h), "
                             f"not {text!r}")
    return int(match.group(1)) * _DURATION_UNITS_S[match.group(2)]


