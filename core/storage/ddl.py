"""DDL derived from kind declarations (plain PostgreSQL; identical on both storage paths)."""

from __future__ import annotations

from core.kinds import DeviceKind, FieldType

SQL_TYPES: dict[FieldType, str] = {
    FieldType.FLOAT: "double precision",
    FieldType.INT: "bigint",
    FieldType.BOOL: "boolean",
    FieldType.ENUM: "text",
}

ARRAY_TYPES: dict[FieldType, str] = {
    FieldType.FLOAT: "float8[]",
    FieldType.INT: "int8[]",
    FieldType.BOOL: "bool[]",
    FieldType.ENUM: "text[]",
}


def readings_table_sql(kind: DeviceKind) -> str:
    """``CREATE TABLE`` for a kind's readings: one typed column per field, PK (device, time)."""
    columns = "".join(f'    "{f.name}" {SQL_TYPES[f.type]},\n' for f in kind.fields)
    return (
        f"-- readings of kind {kind.name} ({kind.label}); generated from its declaration\n"
        f"CREATE TABLE IF NOT EXISTS {kind.table} (\n"
        "    device_id text NOT NULL,\n"
        "    time timestamptz NOT NULL,\n"
        "    received_at timestamptz NOT NULL DEFAULT now(),\n"
        f"{columns}"
        "    PRIMARY KEY (device_id, time)\n"
        ");\n"
        f"CREATE INDEX IF NOT EXISTS {kind.table}_time_idx ON {kind.table} (time DESC);\n"
        f"INSERT INTO citysense_kinds (kind, readings_table) VALUES ('{kind.name}', "
        f"'{kind.table}') ON CONFLICT (kind) DO NOTHING;\n"
    )
