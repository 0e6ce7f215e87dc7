"""``tools``: call the session's declared tools from sandboxed code.

Usage inside a session::

    from tenantflow.guest import tools
    tools.search("weather")            # ["get_weather(city: string) - Current weather ..."]
    help(tools.get_weather)            # its description and arguments
    tools.get_weather(city="Paris")    # the parsed result

Arguments are keyword-only and checked against the tool's JSON schema by
the host before the target runs. A refused or failed call raises
:class:`ToolError` (:class:`ToolArgumentError` for schema violations) with a
message about the tool; the host's internals never appear in it.
"""

from __future__ import annotations

from tenantflow.guest._channel import HostError, call

# Guest modules never import typing at run time: it costs ~50 ms to import in
# CPython for WASI. Annotations stay strings (``from __future__ import annotations``).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class ToolError(Exception):
    """A tool call failed or was refused; ``type`` names the reason."""

    def __init__(self, message: str, *, type: str = "ToolError") -> None:
        super().__init__(message)
        self.type = type


class ToolArgumentError(ToolError, TypeError):
    """The arguments do not match the tool's JSON schema."""


class _Sentinel:
    def __init__(self, text: str) -> None:
        self._text = text

    def __repr__(self) -> str:
        return self._text


REQUIRED = _Sentinel("<required>")
OPTIONAL = _Sentinel("<optional>")


def _invoke(name: str, io: bool, kwargs: dict[str, Any]) -> Any:
    args = {k: v for k, v in kwargs.items() if v is not REQUIRED and v is not OPTIONAL}
    try:
        return call("tool.async" if io else "tool", name=name, args=args)
    except HostError as exc:
        if exc.type == "ToolArgumentError":
            raise ToolArgumentError(str(exc), type=exc.type) from None
        raise ToolError(str(exc), type=exc.type) from None


def _docstring(entry: dict[str, Any]) -> str:
    schema = entry.get("parameters") or {}
    required = set(schema.get("required") or ())
    lines = [entry.get("description") or "(no description)", "", f"Signature: {entry['signature']}"]
    properties = schema.get("properties") or {}
    if properties:
        lines += ["", "Arguments:"]
        for key, prop in properties.items():
            prop = prop if isinstance(prop, dict) else {}
            kind = prop.get("type", "any")
            need = "required" if key in required else "optional"
            text = f"  {key} ({kind}, {need})"
            if prop.get("description"):
                text += f": {prop['description']}"
            if "enum" in prop:
                text += f" one of {prop['enum']!r}"
            lines.append(text)
    return "\n".join(lines)


def _make_function(entry: dict[str, Any]) -> Any:
    name = str(entry["name"])
    schema = entry.get("parameters") or {}
    properties = schema.get("properties") or {}
    required = set(schema.get("required") or ())
    import keyword

    names = [p for p in properties if p.isidentifier() and not keyword.iskeyword(p)]
    params = [f"{p}=REQUIRED" if p in required else f"{p}=OPTIONAL" for p in names]
    # Undeclared keywords still reach the host, whose schema check names them.
    params.append("**extra")
    packed = "".join(f"{p!r}: {p}, " for p in names)
    signature = ", ".join(["*", *params] if names else params)
    source = (
        f"def {name}({signature}):\n"
        f"    return _invoke({name!r}, {bool(entry.get('io'))!r}, {{{packed}**extra}})\n"
    )
    scope: dict[str, Any] = {"_invoke": _invoke, "REQUIRED": REQUIRED, "OPTIONAL": OPTIONAL}
    exec(compile(source, f"<tool {name}>", "exec"), scope)
    function = scope[name]
    function.__doc__ = _docstring(entry)
    function.__qualname__ = f"tools.{name}"
    function.__module__ = "tenantflow.guest.tools"
    function._tf_tool = entry
    return function


def help(obj: Any = None) -> None:
    """Print a tool's signature, description and arguments; other objects go to ``pydoc``."""
    entry = getattr(obj, "_tf_tool", None)
    if entry is not None:
        print(f"Help on tool {entry['name']}:\n")
        print(f"tools.{entry['signature']}\n")
        print("    " + (obj.__doc__ or "").replace("\n", "\n    "))
        return
    import pydoc

    if obj is None:
        print("help(tools.NAME) describes a tool")
    else:
        pydoc.help(obj)


class Tools:
    """The session's tools as attributes; ``search`` finds them by name and description."""

    def __init__(self) -> None:
        self._catalog: list[dict[str, Any]] | None = None
        self._functions: dict[str, Any] = {}

    def _entries(self) -> list[dict[str, Any]]:
        if self._catalog is None:
            try:
                self._catalog = list(call("tools.list"))
            except HostError:
                raise ToolError("this sandbox run has no session tools") from None
        return self._catalog

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        function = self._functions.get(name)
        if function is not None:
            return function
        for entry in self._entries():
            if entry["name"] == name:
                function = self._functions[name] = _make_function(entry)
                return function
        known = ", ".join(sorted(e["name"] for e in self._entries())) or "none"
        raise AttributeError(f"no tool named {name!r} (this session has: {known})")

    def __dir__(self) -> list[str]:
        return sorted(["search", "names", *(e["name"] for e in self._entries())])

    def __repr__(self) -> str:
        return f"<tools: {', '.join(self.names())}>"

    def names(self) -> list[str]:
        """The names of every tool."""
        return [e["name"] for e in self._entries()]

    def search(self, query: str = "", limit: int = 20) -> list[str]:
        """Signatures of the tools whose name or description match every word of ``query``.

        Each item reads ``name(arg: type, opt?: type) - first line of the description``.
        """
        words = str(query).lower().split()
        found = []
        for entry in self._entries():
            text = f"{entry['name']} {entry.get('description', '')}".lower().replace("_", " ")
            haystack = f"{text} {entry['name'].lower()}"
            if all(w in haystack for w in words):
                first = (entry.get("description") or "").strip().split("\n", 1)[0]
                found.append(f"{entry['signature']} - {first}" if first else entry["signature"])
        return found[: max(0, int(limit))]


tools = Tools()


def _install_help() -> None:
    # CPython's ``help`` comes from the site module, which the sandbox does not load.
    import builtins

    if not hasattr(builtins, "help"):
        builtins.help = help  # type: ignore[assignment]


_install_help()
