"""Build and write the Lab MES address space through asyncua nodes.

The same code runs against a foreign server (client mode, nodes are added with AddNodes) and against
our own asyncua server (server mode). Nodes are created the first time they are needed, so a server
that lost its address space, or never had our folder, is filled in instead of failing.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from asyncua import Node, ua
from asyncua.common.manage_nodes import delete_nodes

from opcua.addressing import (
    BOOLEAN,
    DATETIME,
    DOUBLE,
    INT32,
    MACHINE_METHODS,
    STRING,
    NodeSpec,
    machine_id_of,
    machine_key,
    node_id_string,
    spec_for,
)

logger = logging.getLogger(__name__)

OPC_NULL_DATE = datetime(1601, 1, 1, tzinfo=UTC)  # OPC UA's "no date"
# UNECE code "CEL" as the OPC UA UnitId (Part 8, EUInformation).
CELSIUS = ua.EUInformation(
    NamespaceUri="http://www.opcfoundation.org/UA/units/un/cefact",
    UnitId=4408652,
    DisplayName=ua.LocalizedText("°C"),
    Description=ua.LocalizedText("degree Celsius"),
)
VARIANT_TYPES = {
    STRING: ua.VariantType.String,
    INT32: ua.VariantType.Int32,
    DOUBLE: ua.VariantType.Double,
    BOOLEAN: ua.VariantType.Boolean,
    DATETIME: ua.VariantType.DateTime,
}


def to_variant(datatype: str, value: object) -> ua.Variant:
    """JSON value from the outbox -> typed OPC UA value; ``None`` becomes the documented empty value."""
    if datatype == STRING:
        return ua.Variant("" if value is None else str(value), ua.VariantType.String)
    if datatype == INT32:
        return ua.Variant(0 if value is None else int(value), ua.VariantType.Int32)
    if datatype == DOUBLE:
        return ua.Variant(math.nan if value is None else float(value), ua.VariantType.Double)
    if datatype == BOOLEAN:
        return ua.Variant(bool(value), ua.VariantType.Boolean)
    if datatype == DATETIME:
        when = OPC_NULL_DATE if value is None else datetime.fromisoformat(str(value))
        return ua.Variant(when, ua.VariantType.DateTime)
    raise ValueError(f"unknown data type {datatype!r}")


class AddressSpace:
    """Lab MES nodes below ``Objects`` of one connected server, created on demand."""

    def __init__(
        self,
        *,
        objects: Node,
        namespace_index: int,
        get_node: Callable[[ua.NodeId], Node],
        machine_name: Callable[[str], str | None],
        on_machine_created: Callable[[Node, str], Awaitable[None]] | None = None,
        writable_keys: Callable[[str], bool] = lambda key: False,
    ) -> None:
        self.objects = objects
        self.ns = namespace_index
        self._get_node = get_node
        self._machine_name = machine_name
        self._on_machine_created = on_machine_created
        self._writable = writable_keys
        self._known: set[str] = set()

    def node_id(self, key: str) -> ua.NodeId:
        return ua.NodeId(node_id_string(key), self.ns)

    def node(self, key: str) -> Node:
        return self._get_node(self.node_id(key))

    async def exists(self, key: str) -> bool:
        try:
            await self.node(key).read_browse_name()
        except ua.uaerrors.BadNodeIdUnknown:
            return False
        return True

    async def ensure(self, key: str) -> bool:
        """Make sure the node (and its parents) exist; True if it had to be created."""
        if key in self._known:
            return False
        if await self.exists(key):
            self._known.add(key)
            return False
        spec = spec_for(key)
        parent = self.objects if spec.parent is None else self.node(spec.parent)
        if spec.parent is not None:
            await self.ensure(spec.parent)
        await self._create(parent, spec)
        self._known.add(key)
        return True

    async def _create(self, parent: Node, spec: NodeSpec) -> None:
        nodeid = self.node_id(spec.key)
        if spec.kind == "folder":
            await parent.add_folder(nodeid, ua.QualifiedName(spec.browse_name, self.ns))
        elif spec.kind == "object":
            name = spec.browse_name
            machine_id = machine_id_of(spec.key)
            is_machine = spec.key == machine_key(machine_id) if machine_id else False
            if is_machine:
                name = self._machine_name(machine_id) or machine_id
            node = await parent.add_object(nodeid, ua.QualifiedName(name, self.ns))
            if is_machine and self._on_machine_created is not None:
                await self._on_machine_created(node, machine_id)
        else:
            node = await parent.add_variable(
                nodeid,
                ua.QualifiedName(spec.browse_name, self.ns),
                to_variant(spec.datatype, None),
                varianttype=VARIANT_TYPES[spec.datatype],
            )
            if "/Temperatures/" in spec.key:
                await node.add_property(
                    ua.NodeId(node_id_string(spec.key) + ".EngineeringUnits", self.ns),
                    ua.QualifiedName("EngineeringUnits", 0),
                    ua.Variant(CELSIUS, ua.VariantType.ExtensionObject),
                )
            if self._writable(spec.key):
                await node.set_writable()

    async def write(self, key: str, value: object) -> None:
        spec = spec_for(key)
        await self.ensure(key)
        await self.node(key).write_value(ua.DataValue(to_variant(spec.datatype, value)))

    async def rename_machine(self, machine_id: str, name: str) -> None:
        key = machine_key(machine_id)
        if await self.ensure(key):
            return  # created with the current name
        node = self.node(key)
        await node.write_attribute(
            ua.AttributeIds.BrowseName, ua.DataValue(ua.Variant(ua.QualifiedName(name, self.ns)))
        )
        await node.write_attribute(
            ua.AttributeIds.DisplayName, ua.DataValue(ua.Variant(ua.LocalizedText(name)))
        )

    async def remove_machine(self, machine_id: str) -> None:
        key = machine_key(machine_id)
        if await self.exists(key):
            _, results = await delete_nodes(self.node(key).session, [self.node(key)], recursive=True)
            for result in results:
                result.check()
        self._known = {k for k in self._known if k != key and not k.startswith(key + "/")}

    def method_node_id(self, machine_id: str, method: str) -> ua.NodeId:
        assert method in MACHINE_METHODS
        return ua.NodeId(f"{node_id_string(machine_key(machine_id))}.{method}", self.ns)
