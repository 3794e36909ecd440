//! Ingestion support: idempotency keys of the REST batch endpoints, and the
//! `collector` role that may post usage.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{small_integer, text};

use crate::util::{check, created_at, drop_tables, id, index, unique};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // The first answer to a batch sent with an `Idempotency-Key` header, kept
        // so that a retried request gets the same answer and changes nothing.
        // Written in the batch's own transaction: a key is never recorded for a
        // batch that did not commit.
        manager
            .create_table(
                Table::create()
                    .table("idempotency_keys")
                    .col(id())
                    .col(text("route"))
                    .col(text("principal"))
                    .col(text("key"))
                    // SHA-256 of the request body: the same key with another
                    // body is refused.
                    .col(text("request_hash"))
                    .col(small_integer("status"))
                    .col(text("response"))
                    .col(created_at(manager))
                    .index(&mut unique(
                        "uq_idempotency_keys",
                        &["route", "principal", "key"],
                    ))
                    .check(check(
                        "ck_idempotency_keys_key",
                        "length(key) > 0 AND length(key) <= 255",
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_index(index("idempotency_keys", &["created_at"]))
            .await?;
        let mut role = Query::insert();
        role.into_table("roles")
            .columns(["name", "family", "rank", "description"])
            .values_panic([
                "collector".into(),
                "tally".into(),
                0_i16.into(),
                "Posts usage (jobs, records, metrics, bucket samples) for the projects in scope."
                    .into(),
            ]);
        manager.exec_stmt(role).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mut role = Query::delete();
        role.from_table("roles")
            .and_where(Expr::col("name").eq("collector"));
        manager.exec_stmt(role).await?;
        drop_tables(manager, &["idempotency_keys"]).await
    }
}
