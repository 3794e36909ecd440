//! Small builders shared by the migrations, so that each table definition reads
//! as a list of columns and constraints.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, big_integer_null, big_pk_auto, timestamp_with_time_zone,
};
use sea_orm_migration::sea_orm::DbBackend;

/// The surrogate key every table without a natural primary key carries.
pub(crate) fn id() -> ColumnDef {
    big_pk_auto("id")
}

/// A `BIGINT NOT NULL` reference column.
pub(crate) fn reference(name: &'static str) -> ColumnDef {
    big_integer(name)
}

/// A nullable `BIGINT` reference column.
pub(crate) fn reference_null(name: &'static str) -> ColumnDef {
    big_integer_null(name)
}

/// The current instant, as a column default.
///
/// On SQLite a timestamp is text, and `CURRENT_TIMESTAMP` would write
/// `2026-03-01 08:00:00` while the driver writes RFC 3339
/// (`2026-03-01T08:00:00.123456+00:00`); mixed, they would compare wrongly. So
/// SQLite's default writes the driver's format.
pub(crate) fn now(manager: &SchemaManager<'_>) -> Expr {
    match manager.get_database_backend() {
        DbBackend::Sqlite => Expr::cust("(strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'))"),
        _ => Expr::current_timestamp(),
    }
}

/// `created_at TIMESTAMPTZ NOT NULL DEFAULT now`.
pub(crate) fn created_at(manager: &SchemaManager<'_>) -> ColumnDef {
    timestamp_with_time_zone("created_at")
        .default(now(manager))
        .take()
}

/// `updated_at TIMESTAMPTZ NOT NULL DEFAULT now`.
pub(crate) fn updated_at(manager: &SchemaManager<'_>) -> ColumnDef {
    timestamp_with_time_zone("updated_at")
        .default(now(manager))
        .take()
}

/// A foreign key named `fk_<table>_<column>`.
pub(crate) fn fk(
    table: &'static str,
    column: &'static str,
    target: &'static str,
    on_delete: ForeignKeyAction,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(format!("fk_{table}_{column}"))
        .from(table, column)
        .to(target, "id")
        .on_delete(on_delete)
        .on_update(ForeignKeyAction::Cascade)
        .take()
}

/// A composite foreign key: `columns` of `table` must match `target_columns` of a
/// row of `target` (which carries a `UNIQUE` over them). Used to make a child
/// agree with its parent on the project it belongs to.
pub(crate) fn fk_pair(
    name: &str,
    table: &'static str,
    columns: (&'static str, &'static str),
    target: &'static str,
    target_columns: (&'static str, &'static str),
    on_delete: ForeignKeyAction,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(table, columns)
        .to(target, target_columns)
        .on_delete(on_delete)
        .on_update(ForeignKeyAction::Cascade)
        .take()
}

/// A named `UNIQUE` constraint over `columns`.
pub(crate) fn unique(name: &str, columns: &[&'static str]) -> IndexCreateStatement {
    let mut index = Index::create();
    index.name(name).unique();
    for column in columns {
        index.col(*column);
    }
    index
}

/// A named `CHECK` constraint. `sql` is an expression both backends accept.
pub(crate) fn check(name: &str, sql: &str) -> Check {
    Check::named(name.to_owned(), Expr::cust(sql.to_owned()))
}

/// A plain (non-unique) index named `ix_<table>_<columns…>`.
pub(crate) fn index(table: &'static str, columns: &[&'static str]) -> IndexCreateStatement {
    let mut index = Index::create();
    index
        .name(format!("ix_{table}_{}", columns.join("_")))
        .table(table)
        .if_not_exists();
    for column in columns {
        index.col(*column);
    }
    index
}

/// Creates each index in order.
pub(crate) async fn create_indexes(
    manager: &SchemaManager<'_>,
    indexes: Vec<IndexCreateStatement>,
) -> Result<(), DbErr> {
    for index in indexes {
        manager.create_index(index).await?;
    }
    Ok(())
}

/// Drops the tables in order (children first).
pub(crate) async fn drop_tables(
    manager: &SchemaManager<'_>,
    tables: &[&'static str],
) -> Result<(), DbErr> {
    for table in tables {
        manager
            .drop_table(Table::drop().table(*table).if_exists().take())
            .await?;
    }
    Ok(())
}
