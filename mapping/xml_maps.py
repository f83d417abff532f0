"""Field maps from mapping XML files (the format is in the README; a sample is tandem/samples/mappings.xml).

Parsed with defusedxml: DTDs, entity declarations and external references are refused, so no file can
expand entities or reach the network.
"""

from __future__ import annotations

import json
from typing import Any

from defusedxml import DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden
from defusedxml.ElementTree import ParseError, fromstring

MAX_XML_BYTES = 2_000_000
RULE_ATTRIBUTES = ("left", "right", "direction", "mode", "conflict", "left_type", "right_type")


class XmlMapError(ValueError):
    def __init__(self, message: str, field: str = "body") -> None:
        super().__init__(message)
        self.field = field


def parse_mapping_xml(text: str) -> dict[str, list[dict[str, Any]]]:
    """`<fieldMaps><fieldMap name=…><rule left=… right=… …><transform name=…>…` → {map name: [rules]}.

    Rules are returned as configuration dictionaries; `sync.config` validates them (names the rule).
    """
    if len(text.encode("utf-8")) > MAX_XML_BYTES:
        raise XmlMapError(f"a mapping XML file holds at most {MAX_XML_BYTES} bytes")
    try:
        root = fromstring(text, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden):
        raise XmlMapError("mapping XML may not contain a DTD or entity declarations") from None
    except ParseError as exc:
        raise XmlMapError(f"not well-formed XML: {exc}") from None
    if root.tag != "fieldMaps":
        raise XmlMapError(f"the root element is <fieldMaps>, not <{root.tag}>")
    maps: dict[str, list[dict[str, Any]]] = {}
    for i, element in enumerate(root):
        if element.tag != "fieldMap":
            raise XmlMapError(f"<fieldMaps> holds <fieldMap> elements, not <{element.tag}>", f"fieldMaps.{i}")
        name = (element.get("name") or "").strip()
        if not name:
            raise XmlMapError("a <fieldMap> needs a name attribute", f"fieldMaps.{i}.name")
        if name in maps:
            raise XmlMapError(f"field map '{name}' appears twice", f"field_maps.{name}")
        rules = []
        for k, rule in enumerate(element):
            at = f"field_maps.{name}.{k}"
            if rule.tag != "rule":
                raise XmlMapError(f"<fieldMap> holds <rule> elements, not <{rule.tag}>", at)
            unknown = sorted(set(rule.attrib) - set(RULE_ATTRIBUTES))
            if unknown:
                raise XmlMapError(
                    f"unknown attribute '{unknown[0]}' (known: {', '.join(RULE_ATTRIBUTES)})", at
                )
            body: dict[str, Any] = dict(rule.attrib)
            transform = rule.find("transform")
            if transform is not None:
                body["transform"] = _transform(transform, f"{at}.transform")
            rules.append(body)
        maps[name] = rules
    if not maps:
        raise XmlMapError("the file holds no <fieldMap>")
    return maps


def _transform(element: Any, at: str) -> dict[str, Any]:
    name = (element.get("name") or "").strip()
    if not name:
        raise XmlMapError("a <transform> needs a name attribute", at)
    params: dict[str, Any] = {}
    values = element.findall("value")
    if values:  # value maps and lookup tables: <value from="open" to="Active"/>
        params["map"] = {v.get("from", ""): v.get("to", "") for v in values}
    for param in element.findall("param"):  # <param name="factor">60</param>: a JSON value or a string
        key = param.get("name") or ""
        text = (param.text or "").strip()
        try:
            params[key] = json.loads(text)
        except ValueError:
            params[key] = text
    return {name: params}
