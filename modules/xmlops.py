"""xmlops: the ``$xml(name=>spec)`` pseudo-variable (Kamailio's xmlops, kemi.md §5.6), on lxml.

* ``$xml(name=>doc)`` -- write: the document text of handle ``name`` (larger than
  ``buf_size`` is refused); read: the document (re-serialized once an XPath write changed it,
  ``<?xml version="1.0"?>`` first, as libxml2's ``xmlDocDumpMemory``).
* ``$xml(name=>xpath:expr)`` -- read: the matched nodes joined with ``,`` (attributes give
  their value, text nodes their text, elements their XML); "" when nothing matches; an
  expression that yields a string/number/boolean gives it as text (extension). Write: set the
  content of every matched node (text, attribute value, or an element's text).
* ``modparam("xmlops", "xml_ns", "prefix=uri")`` (repeatable) declares namespace prefixes
  for the expressions, so documents with a default namespace (PIDF) can be addressed.

Handles live per worker process, as in Kamailio; the document is parsed on the first XPath
access. Parsing never resolves entities or touches the network (XXE-safe).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from lxml import etree

from app.context import Ctx
from app.module import Module

module = Module("xmlops", doc="$xml(name=>doc|xpath:...) on lxml")
module.param("buf_size", int, 4096, doc="largest document accepted (bytes)")
module.param("xml_ns", str, multi=True, doc='namespace "prefix=uri" (repeatable)')
log = logging.getLogger("siprouter.xmlops")
PARSER = etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=False)
DECLARATION = '<?xml version="1.0"?>\n'


@dataclass
class Handle:
    """One named document: its text, its parsed tree (lazily) and whether it changed."""

    text: str
    tree: Any = None
    updated: bool = False

    def parsed(self) -> Any:
        if self.tree is None:
            self.tree = etree.fromstring(self.text.encode(), PARSER).getroottree()
        return self.tree

    def serialized(self) -> str:
        if not self.updated:
            return self.text
        return DECLARATION + etree.tostring(self.tree, encoding="unicode") + "\n"


handles: dict[str, Handle] = {}


def namespaces() -> dict[str, str]:
    """The ``xml_ns`` declarations as an lxml namespace map."""
    out = {}
    for decl in module.cfg["xml_ns"]:
        prefix, sep, uri = decl.partition("=")
        if sep and prefix.strip():
            out[prefix.strip()] = uri.strip()
    return out


@module.on_start
def _check_ns() -> None:
    for decl in module.cfg["xml_ns"]:
        if "=" not in decl or not decl.partition("=")[0].strip():
            raise ValueError(f'xmlops: xml_ns must be "prefix=uri", got {decl!r}')
    handles.clear()


def _split(inner: str | None) -> tuple[str, str]:
    name, sep, spec = (inner or "").partition("=>")
    if not sep or not name:
        raise ValueError(f"invalid $xml name {inner!r} (name=>doc or name=>xpath:...)")
    return name, spec


def _node_text(node: Any) -> str:
    if isinstance(node, str):  # text or attribute results (lxml smart strings)
        return str(node)
    if isinstance(node, etree._Element):
        return etree.tostring(node, encoding="unicode", with_tail=False)
    return str(node)


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) else repr(value)


def xpath_read(handle: Handle, expr: str) -> str:
    """The XPath result as Kamailio's ``$xml`` gives it."""
    result = handle.parsed().xpath(expr, namespaces=namespaces())
    if isinstance(result, list):
        return ",".join(_node_text(node) for node in result)
    if isinstance(result, bool):
        return "true" if result else "false"
    if isinstance(result, float):
        return _number(result)
    return str(result)


def _set_content(node: Any, value: str) -> None:
    if isinstance(node, etree._Element):
        for child in list(node):
            node.remove(child)
        node.text = value
        return
    if not isinstance(node, str) or not hasattr(node, "getparent"):
        raise ValueError("the expression does not select nodes")
    parent = node.getparent()
    if node.is_attribute:
        parent.set(node.attrname, value)
    elif node.is_tail:
        parent.tail = value
    else:
        parent.text = value


def xpath_write(handle: Handle, expr: str, value: str) -> None:
    """Set the content of every node ``expr`` selects."""
    result = handle.parsed().xpath(expr, namespaces=namespaces())
    if not isinstance(result, list):
        raise ValueError(f"xpath {expr!r} does not select nodes")
    for node in result:
        _set_content(node, value)
    handle.updated = True


@module.pv("xml")
def xml_get(ctx: Ctx, inner: str | None) -> Any:
    """$xml(name=>doc), $xml(name=>xpath:expr)."""
    name, spec = _split(inner)
    handle = handles.get(name)
    if handle is None:
        return None
    if spec == "doc":
        return handle.serialized()
    if spec.startswith("xpath:"):
        try:
            return xpath_read(handle, spec[6:])
        except (etree.XMLSyntaxError, etree.XPathError) as exc:
            log.error("$xml(%s): %s", inner, exc)
            return None
    raise ValueError(f"unknown $xml spec {spec!r}")


@module.pv_setter("xml")
def xml_set(ctx: Ctx, inner: str | None, value: Any) -> None:
    name, spec = _split(inner)
    if spec == "doc":
        _set_doc(name, value)
    elif spec.startswith("xpath:"):
        handle = handles.get(name)
        if handle is None:
            raise ValueError(f"$xml({name}=>doc) is not set")
        try:
            xpath_write(handle, spec[6:], "" if value is None else str(value))
        except (etree.XMLSyntaxError, etree.XPathError) as exc:
            raise ValueError(str(exc)) from None
    else:
        raise ValueError(f"unknown $xml spec {spec!r}")


def _set_doc(name: str, value: Any) -> None:
    if value is None:
        handles.pop(name, None)
        return
    text = str(value)
    limit = int(module.cfg["buf_size"])
    if limit and len(text.encode()) >= limit:
        raise ValueError(f"document of {len(text)} bytes exceeds buf_size {limit}")
    handles[name] = Handle(text)
