"""Stripe JSON checked against the installed stripe-python's typed classes, which are generated from
Stripe's OpenAPI spec for the SDK's own API version (`stripe._api_version._ApiVersion.CURRENT`).

A response object is checked against its resource class (chosen by its `object` field), an Event
against `stripe.Event` and its `data.object` against the resource class too, a request's
parameters against the `stripe.params` TypedDict of its endpoint. Each check returns problems as
`path: what is wrong` strings; an empty list means the JSON conforms.

How stripe-python's annotations read as a schema:
- A field annotated `Optional[...]` may be null or absent. The generator uses `Optional` both for
  nullable fields and for fields Stripe leaves out (includable lists such as an invoice's
  `payments` or a charge's `refunds`, present only when expanded; fields documented as "only
  present when ..."): none of those is annotated otherwise. Every other field must be present and
  not null.
- A key the class does not annotate is unknown, and fails.
- `Union[Literal[...], str]` is an enum: the SDK adds `str` so that values Stripe introduces after
  the SDK was generated still deserialize, but for the SDK's own version the literals are the
  complete list, so any other string fails.
- `ExpandableField[X]` is `Union[str, X]`: an id, or the expanded object; when several classes are
  possible, the expanded object's `object` field says which.
- `_field_encodings` marks fields sent as strings (`decimal_string`, `int64_string`);
  `_field_remappings` maps Python-safe names (`from_`) to the JSON keys.
- Forward references name classes imported only under `TYPE_CHECKING`; they are resolved by
  importing those modules.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import types
from collections.abc import Iterator, Mapping
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import TYPE_CHECKING, Any, ClassVar, ForwardRef, Literal, TypeVar, Union, get_args, get_origin

from stripe import Event, ListObject, StripeObject
from stripe._error_object import ErrorObject
from stripe._object_classes import OBJECT_CLASSES
from stripe._request_options import RequestOptions
from stripe._stripe_object import UntypedStripeObject

if TYPE_CHECKING:
    from tools.fake_stripe.server import FakeStripe

NONE_TYPE = type(None)
INTEGER = re.compile(r"-?\d+")
NUMBER = re.compile(r"-?\d+(\.\d+)?")


class _TypeCheckingImports(Mapping[str, Any]):
    """The names a stripe module imports under `if TYPE_CHECKING:`, each imported when first read."""

    def __init__(self, module: types.ModuleType) -> None:
        self._sources: dict[str, tuple[str, str]] = {}
        for node in ast.parse(inspect.getsource(module)).body:
            if (
                isinstance(node, ast.If)
                and isinstance(node.test, ast.Name)
                and node.test.id == "TYPE_CHECKING"
            ):
                for statement in node.body:
                    if isinstance(statement, ast.ImportFrom) and statement.module:
                        for alias in statement.names:
                            self._sources[alias.asname or alias.name] = (statement.module, alias.name)

    def __getitem__(self, name: str) -> Any:
        module, attribute = self._sources[name]
        return getattr(importlib.import_module(module), attribute)

    def __iter__(self) -> Iterator[str]:
        return iter(self._sources)

    def __len__(self) -> int:
        return len(self._sources)


@cache
def _namespace(module_name: str) -> tuple[dict[str, Any], _TypeCheckingImports]:
    module = importlib.import_module(module_name)
    return vars(module), _TypeCheckingImports(module)


def _resolved(annotation: Any, module: str) -> Any:
    """A forward reference (`"Customer"`, `ForwardRef("Customer")`) as the object it names in `module`."""
    if isinstance(annotation, ForwardRef):
        annotation = annotation.__forward_arg__
    if isinstance(annotation, str):
        module_globals, type_checking_imports = _namespace(module)
        return eval(annotation, module_globals, type_checking_imports)  # noqa: S307  (stripe's own annotations)
    return annotation


def _is_optional(annotation: Any) -> bool:
    return get_origin(annotation) in (Union, types.UnionType) and NONE_TYPE in get_args(annotation)


@cache
def _fields(cls: type) -> dict[str, tuple[Any, str]]:
    """JSON key -> (annotation, module it is written in) of every field of a StripeObject class."""
    fields: dict[str, tuple[Any, str]] = {}
    for owner in reversed(cls.__mro__):
        if not (isinstance(owner, type) and issubclass(owner, StripeObject)):
            continue
        remappings = vars(owner).get("_field_remappings", {})
        for name, annotation in vars(owner).get("__annotations__", {}).items():
            if name.startswith("_") or get_origin(annotation) is ClassVar:
                continue
            fields[remappings.get(name, name)] = (annotation, owner.__module__)
    return fields


def _encoding(cls: type, key: str) -> str | None:
    remapped = {json_key: name for name, json_key in getattr(cls, "_field_remappings", {}).items()}
    encoding: str | None = getattr(cls, "_field_encodings", {}).get(remapped.get(key, key))
    return encoding


def _encoded_problems(value: Any, encoding: str, path: str) -> list[str]:
    if not isinstance(value, str):
        return [f"{path}: {value!r} is not a string ({encoding})"]
    if encoding == "int64_string":
        return [] if INTEGER.fullmatch(value) else [f"{path}: {value!r} is not an integer string"]
    try:
        Decimal(value)
    except InvalidOperation:
        return [f"{path}: {value!r} is not a decimal string"]
    return []


class _Checker:
    """Walks JSON against annotations. `form` reads scalars as Stripe's form encoding sends them (every
    value a string), for request parameters."""

    def __init__(self, *, form: bool = False) -> None:
        self.form = form

    def check(
        self,
        value: Any,
        annotation: Any,
        module: str,
        path: str,
        *,
        partial: bool = False,
        bound: Mapping[Any, Any] | None = None,
    ) -> list[str]:
        annotation = _resolved(annotation, module)
        if isinstance(annotation, TypeVar):
            annotation = (bound or {}).get(annotation, Any)
        if annotation is Any:
            return []
        origin, args = get_origin(annotation), get_args(annotation)
        if origin in (Union, types.UnionType):
            return self._union(value, args, module, path, partial)
        if origin is Literal:
            if self._literal_matches(value, args):
                return []
            return [f"{path}: {value!r} is not one of {_listed(args)}"]
        if origin is list:
            if not isinstance(value, list):
                return [f"{path}: {_kind(value)} where a list was expected"]
            return [
                problem
                for index, element in enumerate(value)
                for problem in self.check(element, args[0], module, f"{path}[{index}]", bound=bound)
            ]
        if origin is dict:
            if not isinstance(value, dict):
                return [f"{path}: {_kind(value)} where an object was expected"]
            return [
                problem
                for key, element in value.items()
                for problem in self.check(element, args[1], module, f"{path}.{key}", bound=bound)
            ]
        if isinstance(origin, type) and issubclass(origin, StripeObject):
            arguments = [_resolved(argument, module) for argument in args]
            return self._stripe_object(
                value, origin, path, partial, dict(zip(origin.__parameters__, arguments, strict=True))
            )
        if isinstance(annotation, type) and issubclass(annotation, StripeObject):
            return self._stripe_object(value, annotation, path, partial, {})
        if _is_typed_dict(annotation):
            return self._typed_dict(value, annotation, path)
        return self._scalar(value, annotation, path)

    def _literal_matches(self, value: Any, options: tuple[Any, ...]) -> bool:
        if self.form:
            return any(value == _form_text(option) for option in options)
        return any(value == option and type(value) is type(option) for option in options)

    def _union(self, value: Any, arms: tuple[Any, ...], module: str, path: str, partial: bool) -> list[str]:
        arms = tuple(_resolved(arm, module) for arm in arms)
        if value is None and NONE_TYPE in arms:
            return []
        literals = [option for arm in arms if get_origin(arm) is Literal for option in get_args(arm)]
        if str in arms and literals and literals != [""]:
            # An enum the SDK leaves open for values added later: for its own version, the literals are
            # all. `Literal[''] | str` is no enum: any text, or "" to unset the field.
            arms = tuple(arm for arm in arms if arm is not str)
        candidates = [arm for arm in arms if arm is not NONE_TYPE]
        classes = [arm for arm in candidates if isinstance(arm, type) and issubclass(arm, StripeObject)]
        if isinstance(value, dict) and len(classes) > 1:
            named = [arm for arm in classes if getattr(arm, "OBJECT_NAME", None) == value.get("object")]
            if not named:
                allowed = ", ".join(str(getattr(arm, "OBJECT_NAME", arm.__name__)) for arm in classes)
                return [f"{path}.object: {value.get('object')!r} is not one of {allowed}"]
            candidates = [arm for arm in candidates if arm not in classes or arm in named]
        attempts = [self.check(value, arm, module, path, partial=partial) for arm in candidates]
        if any(not problems for problems in attempts):
            return []
        matching_kind = [
            problems for arm, problems in zip(candidates, attempts, strict=True) if _same_kind(value, arm)
        ]
        if len(matching_kind) == 1:
            return matching_kind[0]
        return [f"{path}: {value!r} is not any of {', '.join(_describe(arm) for arm in arms)}"]

    def _stripe_object(
        self, value: Any, cls: type, path: str, partial: bool, bound: Mapping[Any, Any]
    ) -> list[str]:
        if not isinstance(value, dict):
            return [f"{path}: {_kind(value)} where a {cls.__name__} object was expected"]
        if issubclass(cls, UntypedStripeObject):
            (value_type,) = tuple(bound.values()) or (Any,)
            return [
                problem
                for key, element in value.items()
                # In previous_attributes, null stands for a key that did not exist before (metadata).
                if not (partial and element is None)
                for problem in self.check(element, value_type, cls.__module__, f"{path}.{key}")
            ]
        fields = _fields(cls)
        problems: list[str] = []
        object_name = getattr(cls, "OBJECT_NAME", None)
        if "object" in value and "object" not in fields:
            if object_name is None:
                problems.append(f"{path}.object: unknown field")
            elif value["object"] != object_name:
                problems.append(f"{path}.object: {value['object']!r} is not {object_name!r}")
        for key in value.keys() - fields.keys() - {"object"}:
            problems.append(f"{path}.{key}: unknown field of {cls.__qualname__}")
        for key, (annotation, module) in fields.items():
            field_path = f"{path}.{key}"
            if key not in value:
                if not partial and not _is_optional(_resolved(annotation, module)):
                    problems.append(f"{field_path}: required field of {cls.__qualname__} is missing")
                continue
            encoding = _encoding(cls, key)
            if encoding is not None and value[key] is not None:
                problems += _encoded_problems(value[key], encoding, field_path)
                continue
            problems += self.check(value[key], annotation, module, field_path, partial=partial, bound=bound)
        return sorted(problems)

    def _typed_dict(self, value: Any, typed_dict: type, path: str) -> list[str]:
        if not isinstance(value, dict):
            return [f"{path}: {_kind(value)} where {typed_dict.__name__} was expected"]
        fields = parameters(typed_dict)
        required = typed_dict.__required_keys__ & fields.keys()
        problems = [
            f"{path}.{key}: unknown parameter of {typed_dict.__name__}"
            for key in value.keys() - fields.keys()
        ]
        problems += [
            f"{path}.{key}: required parameter of {typed_dict.__name__} is missing"
            for key in required - value.keys()
        ]
        for key in value.keys() & fields.keys():
            problems += self.check(
                value[key], _unwrapped(fields[key]), typed_dict.__module__, f"{path}.{key}"
            )
        return sorted(problems)

    def _scalar(self, value: Any, annotation: Any, path: str) -> list[str]:
        if self.form:
            accepted = {
                str: isinstance(value, str),
                int: isinstance(value, str) and INTEGER.fullmatch(value) is not None,
                float: isinstance(value, str) and NUMBER.fullmatch(value) is not None,
                bool: value in ("true", "false"),
            }
        else:
            accepted = {
                str: isinstance(value, str),
                int: isinstance(value, int) and not isinstance(value, bool),
                float: isinstance(value, int | float) and not isinstance(value, bool),
                bool: isinstance(value, bool),
            }
        if annotation not in accepted:
            return [f"{path}: cannot check against {annotation!r}"]
        if accepted[annotation]:
            return []
        return [f"{path}: {_kind(value)} {value!r} where {annotation.__name__} was expected"]


def parameters(typed_dict: type) -> dict[str, Any]:
    """Name -> annotation of the parameters a `stripe.params` TypedDict allows. Its request options
    (api_key, idempotency_key...) travel as headers, never as parameters."""
    return {
        name: annotation
        for name, annotation in typed_dict.__annotations__.items()
        if name not in RequestOptions.__annotations__
    }


def _unwrapped(annotation: Any) -> Any:
    """`NotRequired[X]` / `Required[X]` of a TypedDict field as X."""
    while getattr(get_origin(annotation), "_name", None) in ("NotRequired", "Required"):
        (annotation,) = get_args(annotation)
    return annotation


def _is_typed_dict(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, dict) and hasattr(annotation, "__total__")


def _same_kind(value: Any, annotation: Any) -> bool:
    """Whether the value is the JSON kind the annotation takes (so its problems are the ones to report)."""
    if isinstance(value, dict):
        origin = get_origin(annotation) or annotation
        return origin is dict or (isinstance(origin, type) and issubclass(origin, StripeObject | dict))
    if isinstance(value, list):
        return get_origin(annotation) is list
    return get_origin(annotation) is Literal or annotation in (str, int, float, bool)


def _form_text(option: Any) -> str:
    return ("true" if option else "false") if isinstance(option, bool) else str(option)


def _listed(options: tuple[Any, ...], shown: int = 12) -> str:
    listed = ", ".join(map(repr, options[:shown]))
    return listed if len(options) <= shown else f"{listed}... ({len(options)} values)"


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _describe(annotation: Any) -> str:
    return annotation.__name__ if isinstance(annotation, type) else repr(annotation).removeprefix("typing.")


def resource_class(object_name: str) -> type:
    if object_name not in OBJECT_CLASSES:
        raise KeyError(f"stripe-python has no class for objects of type {object_name!r}")
    module, name = OBJECT_CLASSES[object_name]
    cls: type = getattr(importlib.import_module(module), name)
    return cls


def object_problems(value: Any, path: str = "object", *, partial_of: type | None = None) -> list[str]:
    """A response body or an event's object: its `object` field names the class (a list: its elements')."""
    if partial_of is not None:
        return _Checker().check(value, partial_of, partial_of.__module__, path, partial=True)
    if not isinstance(value, dict) or not isinstance(value.get("object"), str):
        return [f"{path}: not a Stripe object (no `object` field)"]
    if value["object"] == "list":
        return _Checker().check(value, ListObject[Any], "stripe", path) + [
            problem
            for index, element in enumerate(value.get("data") or [])
            for problem in object_problems(element, f"{path}.data[{index}]")
        ]
    cls = resource_class(value["object"])
    return _Checker().check(value, cls, cls.__module__, path)


def response_problems(body: Any) -> list[str]:
    """An API answer: a Stripe object or list, or an error (`{"error": {...}}`)."""
    if isinstance(body, dict) and "error" in body:
        unknown = [f"response.{key}: unknown field of an error answer" for key in body.keys() - {"error"}]
        return unknown + _Checker().check(body["error"], ErrorObject, ErrorObject.__module__, "error")
    return object_problems(body, "response")


def event_problems(event: Any) -> list[str]:
    """An Event, its `data.object` checked against its resource class and `data.previous_attributes`
    (old values of what changed: any subset of the fields, nested objects partial too)."""
    problems = _Checker().check(event, Event, Event.__module__, "event")
    data = event.get("data") if isinstance(event, dict) else None
    if not isinstance(data, dict) or not isinstance(data.get("object"), dict):
        return problems
    problems += object_problems(data["object"], "event.data.object")
    previous = data.get("previous_attributes")
    object_name = data["object"].get("object")
    if isinstance(previous, dict) and object_name in OBJECT_CLASSES:
        cls = resource_class(object_name)
        problems += object_problems(previous, "event.data.previous_attributes", partial_of=cls)
    return problems


def params_problems(params: Any, typed_dict: type) -> list[str]:
    """Request parameters as the server decodes them from the form body (every scalar a string)."""
    return _Checker(form=True).check(params, typed_dict, typed_dict.__module__, "params")


def fake_stripe_problems(fake: FakeStripe, api_version: str) -> list[str]:
    """What a run of tools/fake_stripe did wrong: a request that did not name `api_version`, an
    answer or an event that does not conform, an event rendered in another version."""
    problems: list[str] = []
    for request in fake.requests:
        where = f"{request.method} {request.path}"
        if request.stripe_version != api_version:
            problems.append(f"{where}: Stripe-Version {request.stripe_version!r}, not {api_version!r}")
        problems += [
            f"{where} -> {request.status}: {problem}" for problem in response_problems(request.response)
        ]
    for event in fake.events:
        if event.get("api_version") != api_version:
            problems.append(f"{event['id']}: api_version {event.get('api_version')!r}, not {api_version!r}")
        problems += [f"{event['id']} ({event['type']}): {problem}" for problem in event_problems(event)]
    return problems
