"""Small set-based SQL helpers that run on PostgreSQL and SQLite (3.33+)."""

from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import NamedTuple

from django.conf import settings
from django.db import connection
from django.db.backends.postgresql.base import ServerBindingCursor


class Statement(NamedTuple):
    """A statement and its parameters, built apart from running it (`run`)."""

    sql: str
    params: list


def update_from_values(
    table: str, key: str, columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[object]]
) -> None:
    """UPDATE table SET col = v.col ... FROM (one row per key) v WHERE table.key = v.key.

    `columns` are (name, PostgreSQL type) pairs after the key; each row is (key, *values).
    One statement for the whole batch: one row per target, so callers aggregate first.
    """
    run(update_from_values_statement(table, key, columns, rows, vendor=connection.vendor))


def update_from_values_statement(
    table: str,
    key: str,
    columns: Sequence[tuple[str, str]],
    rows: Sequence[Sequence[object]],
    *,
    vendor: str,
) -> Statement | None:
    """`update_from_values`' statement for a database `vendor`, or None for no rows. It
    only builds strings, so a caller can build it while the connection is still busy
    (settlement: while the postings' COPY ends).

    On PostgreSQL the values travel as one array per column (unnest), which binds a handful
    of parameters instead of thousands; SQLite gets a VALUES list.
    """
    if not rows:
        return None
    names = [name for name, _ in columns]
    assignments = ", ".join(f"{name} = v.{name}" for name in names)
    if vendor == "postgresql":
        arrays = ", ".join(f"%s::{sql_type}[]" for sql_type in ["bigint", *(t for _, t in columns)])
        # The second condition repeats the join on the target's own index: without it the
        # planner merge-joins along the whole primary key, 1,000,000 transfers read to
        # update the newest 20,000 (323 ms against 128 ms).
        sql = (
            f"UPDATE {table} SET {assignments} "
            f"FROM unnest({arrays}) AS v({key}, {', '.join(names)}) "
            f"WHERE {table}.{key} = v.{key} AND {table}.{key} = ANY(%s::bigint[])"
        )
        params = [array_literal(column) for column in zip(*rows, strict=True)]
        params.append(params[0])
        return Statement(sql, params)
    # VALUES columns are named column1, column2, ...; alias them through a subquery.
    aliases = ", ".join(f"column{i + 1} AS {name}" for i, name in enumerate([key, *names]))
    row_sql = "(" + ", ".join(["%s"] * (1 + len(columns))) + ")"
    sql = (
        f"UPDATE {table} SET {assignments} "
        f"FROM (SELECT {aliases} FROM (VALUES {', '.join([row_sql] * len(rows))})) AS v "
        f"WHERE {table}.{key} = v.{key}"
    )
    return Statement(sql, [value for row in rows for value in row])


def run(statement: Statement | None) -> None:
    """Run a built statement; None is nothing to run."""
    if statement is not None:
        with connection.cursor() as cursor:
            cursor.execute(statement.sql, statement.params)


def in_ids(column: str, ids: Sequence[int]) -> tuple[str, list]:
    """A `column IN ids` condition: one array parameter on PostgreSQL, a list elsewhere."""
    if connection.vendor == "postgresql":
        return f"{column} = ANY(%s::bigint[])", [array_literal(ids)]
    return f"{column} IN ({', '.join(['%s'] * len(ids))})", list(ids)


def array_literal(values: Sequence[object]) -> str:
    """A PostgreSQL array literal, '{1,2,"A"}', for a parameter cast to an array type.

    psycopg adapts a list element by element in Python, which cost more than the
    UPDATE itself at a thousand rows; joining strings is an order of magnitude faster.
    A column of only strings (keys, memos, states) is escaped whole, not element by
    element: half the time, and a submitted payment carries a few of them.
    """
    kinds = set(map(type, values))
    if kinds == {int}:
        return "{" + ",".join(map(str, values)) + "}"
    if kinds and all(issubclass(kind, str) for kind in kinds):  # states are StrEnums
        # NUL is never in PostgreSQL text, so it can stand between the elements while
        # the whole column is escaped at once.
        joined = "\0".join(values)
        if joined.count("\0") == len(values) - 1:
            if "\\" in joined or '"' in joined:
                joined = joined.replace("\\", "\\\\").replace('"', '\\"')
            return '{"' + joined.replace("\0", '","') + '"}'
    return "{" + ",".join(map(_array_element, values)) + "}"


def _array_element(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def fetch(sql: str, params: Sequence[object]) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def fetch_prepared(sql: str, params: Sequence[object]) -> list[tuple]:
    """`fetch` for a statement run on every request: on PostgreSQL it is prepared on its
    connection the first time (server-side parameters) and only executed after that. The
    one-statement payment spent 0.4 of its 1.7 ms planning. Plain `fetch` elsewhere, or
    with EWALLET_DB_PREPARED_STATEMENTS off."""
    if connection.vendor != "postgresql" or not settings.EWALLET_DB_PREPARED_STATEMENTS:
        return fetch(sql, params)
    connection.ensure_connection()
    connection.validate_thread_sharing()
    raw = _PreparingCursor(connection.connection)
    # Django's own wrapper: its errors, execute wrappers and query log (tests count
    # statements) see this statement like any other.
    if connection.queries_logged:
        cursor = connection.make_debug_cursor(raw)
    else:
        cursor = connection.make_cursor(raw)
    with cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


class _PreparingCursor(ServerBindingCursor):
    def execute(self, query, params=None, **options):
        return super().execute(query, params, prepare=True)


def insert_rows(table: str, columns: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Insert many rows fast: COPY on PostgreSQL, executemany elsewhere.

    Skips the ORM's per-row model construction, which costs more than the database does at
    a thousand rows per batch. Values must already be in database form.
    """
    with rows_inserted(table, columns) as write:
        for row in rows:
            write(row)


@contextmanager
def rows_inserted(
    table: str, columns: Sequence[str]
) -> Iterator[Callable[[Sequence[object]], None]]:
    """`insert_rows` for rows made one at a time: `write(row)` inside the block, and the
    rows are in the table when it ends. On PostgreSQL the COPY opens at the first row and
    streams while the caller makes the rest, so the server stores rows on its own core
    while this process is still computing; the connection runs nothing else until the
    block ends. No row, no statement.
    """
    quoted = ", ".join(connection.ops.quote_name(column) for column in columns)
    with ExitStack() as stack:
        if connection.vendor == "postgresql":
            copy = None

            def write(row: Sequence[object]) -> None:
                nonlocal copy
                if copy is None:
                    cursor = stack.enter_context(connection.cursor())
                    statement = f"COPY {table} ({quoted}) FROM STDIN"
                    copy = stack.enter_context(cursor.cursor.copy(statement))
                copy.write_row(row)

            yield write
        else:
            rows: list[Sequence[object]] = []
            yield rows.append
            if rows:
                placeholders = ", ".join(["%s"] * len(columns))
                with connection.cursor() as cursor:
                    cursor.executemany(
                        f"INSERT INTO {table} ({quoted}) VALUES ({placeholders})", rows
                    )
