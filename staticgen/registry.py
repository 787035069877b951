"""What gets published: each app registers its outputs in `<app>/publish.py` (autodiscovered in
`StaticgenConfig.ready()`).

An output is a name pattern with at most one `{placeholder}` (`products/{id}.json`), a function
listing the keys that exist now (one per product), and a renderer turning one key into bytes.
A renderer answering None means "this path no longer exists": the publisher deletes the file.

    from staticgen import registry

    registry.register(
        "products/{id}.json",
        keys=selectors.product_ids_active,
        render=render_product_json,          # (id) -> bytes | str | None
        key_type=int,
        page=lambda id: f"/products/{id}/",  # the live page (listed in sitemap.xml); optional
    )
"""

from __future__ import annotations

import fnmatch
import mimetypes
import posixpath
import re
import string
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

# Shared files may be cached by browsers and the CDN edge for a short while: a republish shows
# within a minute without every visitor revalidating. JSON is short-lived because pages read it
# for live-ish data; the sitemap changes rarely.
DEFAULT_CACHE_CONTROL = {
    "application/json": "public, max-age=60, stale-while-revalidate=30",
    "text/html": "public, max-age=60, stale-while-revalidate=30",
    "application/xml": "public, max-age=3600",
}
FALLBACK_CACHE_CONTROL = "public, max-age=300"
CONTENT_TYPES = {".json": "application/json", ".html": "text/html", ".xml": "application/xml", ".txt": "text/plain"}
GLOB_CHARS = set("*?[")


class RegistryError(ValueError):
    pass


def content_type_for(name: str) -> str:
    ext = posixpath.splitext(name)[1].lower()
    base = CONTENT_TYPES.get(ext) or mimetypes.guess_type(name)[0] or "application/octet-stream"
    return f"{base}; charset=utf-8" if base.startswith("text/") or base.endswith("xml") else base


def _default_cache_control(content_type: str) -> str:
    overrides = settings.STATICGEN_CACHE_CONTROL or {}
    base = content_type.split(";")[0].strip()
    return overrides.get(base) or DEFAULT_CACHE_CONTROL.get(base, FALLBACK_CACHE_CONTROL)


@dataclass(frozen=True)
class Output:
    name: str
    render: Callable[..., bytes | str | None]
    keys: Callable[[], Iterable[Any]] | None = None
    key_type: Callable[[str], Any] = str
    content_type: str = ""
    cache_control: str = ""
    page: Callable[..., str | None] | None = None
    app: str = ""
    placeholder: str | None = field(default=None, compare=False)
    _regex: re.Pattern | None = field(default=None, compare=False, repr=False)

    @property
    def is_single(self) -> bool:
        return self.placeholder is None

    def path_for(self, key: Any = None) -> str:
        return self.name if self.is_single else self.name.format(**{self.placeholder: key})

    def key_of(self, path: str) -> tuple[bool, Any]:
        """(True, key) when `path` is one of this output's paths."""
        if self.is_single:
            return path == self.name, None
        m = self._regex.match(path)
        if not m:
            return False, None
        try:
            return True, self.key_type(m.group(1))
        except (TypeError, ValueError):
            return False, None

    def all_paths(self) -> list[tuple[str, Any]]:
        if self.is_single:
            return [(self.name, None)]
        return [(self.path_for(k), k) for k in self.keys()]

    def render_key(self, key: Any) -> bytes | None:
        body = self.render() if self.is_single else self.render(key)
        if body is None:
            return None
        return body.encode() if isinstance(body, str) else bytes(body)

    def page_for(self, key: Any) -> str | None:
        if self.page is None:
            return None
        return self.page() if self.is_single else self.page(key)


_outputs: dict[str, Output] = {}


def register(
    name: str,
    *,
    render: Callable[..., bytes | str | None],
    keys: Callable[[], Iterable[Any]] | None = None,
    key_type: Callable[[str], Any] = str,
    content_type: str | None = None,
    cache_control: str | None = None,
    page: Callable[..., str | None] | None = None,
    app: str = "",
) -> Output:
    """Register (or re-register, e.g. on module reload) one output. Returns it."""
    if name.startswith("/") or ".." in name.split("/") or name.startswith("_"):
        raise RegistryError(f"bad output name {name!r}: relative, no '..', not starting with '_'")
    fields = [f for _, f, _, _ in string.Formatter().parse(name) if f is not None]
    if len(fields) > 1:
        raise RegistryError(f"{name!r}: at most one {{placeholder}} per output")
    placeholder = fields[0] if fields else None
    if placeholder is not None and keys is None:
        raise RegistryError(f"{name!r} has a placeholder, so it needs keys=")
    regex = None
    if placeholder is not None:
        head, tail = name.split("{" + placeholder + "}")
        regex = re.compile("^" + re.escape(head) + "([^/]+)" + re.escape(tail) + "$")
    ctype = content_type or content_type_for(name)
    output = Output(
        name=name,
        render=render,
        keys=keys,
        key_type=key_type,
        content_type=ctype,
        cache_control=cache_control or _default_cache_control(ctype),
        page=page,
        app=app,
        placeholder=placeholder,
        _regex=regex,
    )
    _outputs[name] = output
    return output


def unregister(name: str) -> None:
    _outputs.pop(name, None)


def outputs() -> list[Output]:
    return sorted(_outputs.values(), key=lambda o: o.name)


def get(name: str) -> Output | None:
    return _outputs.get(name)


def is_pattern(target: str) -> bool:
    return bool(set(target) & GLOB_CHARS) or target in _outputs and get(target).placeholder is not None


def find(path: str) -> tuple[Output, Any] | None:
    """The output (and key) a concrete path belongs to, without listing any keys."""
    for output in _outputs.values():
        ok, key = output.key_of(path)
        if ok:
            return output, key
    return None


def matches(target: str, path: str, output: Output) -> bool:
    """`--only` semantics: an output name (`products/{id}.json`), a glob (`products/*`) or a path."""
    return target == output.name or target == path or fnmatch.fnmatchcase(path, target)
