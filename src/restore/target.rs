//! Preparing the target database: version checks, creating or replacing it, and refusing
//! to pour a backup into a database that already holds something.

use tokio_postgres::Client;

use crate::error::{Error, Result};
use crate::postgres::{self, quote_ident, quote_literal, ConnSpec};

/// A connection to the target server outside the target database, for CREATE/DROP DATABASE.
pub async fn maintenance(target: &ConnSpec) -> Result<Client> {
    let mut last = None;
    for db in ["postgres", "template1"] {
        match target.with_database(db).connect().await {
            Ok(c) => return Ok(c),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| Error::Restore("no maintenance database".into())))
}

/// Refuses to restore into an older major than the backup came from, unless allowed:
/// pg_dump output of a newer server may use syntax an older one does not know.
pub fn check_versions(
    source_num: u32,
    target_num: u32,
    target: &ConnSpec,
    allow_older: bool,
) -> Result<()> {
    let (s, t) = (
        postgres::major_of(source_num),
        postgres::major_of(target_num),
    );
    if t < s && !allow_older {
        return Err(Error::Restore(format!(
            "target {} runs PostgreSQL {t}, older than the backup's source ({s}); restoring \
             into an older major may fail or lose objects. Restore into PostgreSQL {s} or newer, \
             or pass --allow-older-target to try anyway",
            target.display()
        )));
    }
    Ok(())
}

pub async fn database_exists(maint: &Client, target: &ConnSpec, name: &str) -> Result<bool> {
    let row = maint
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .await
        .map_err(|e| target.error("cannot look up databases", &e))?;
    Ok(row.is_some())
}

/// Creates the target database, dropping an existing one first if `replace`.
pub async fn create_database(
    maint: &Client,
    target: &ConnSpec,
    name: &str,
    encoding: &str,
    replace: bool,
) -> Result<()> {
    if database_exists(maint, target, name).await? {
        if !replace {
            return Err(Error::Restore(format!(
                "database `{name}` already exists on {}; choose another name, or pass --clean to \
                 drop and replace it",
                target.display()
            )));
        }
        tracing::warn!(
            database = name,
            "dropping the existing target database (--clean)"
        );
        maint
            .batch_execute(&format!("DROP DATABASE {}", quote_ident(name)))
            .await
            .map_err(|e| target.error(&format!("cannot drop database {name}"), &e))?;
    }
    maint
        .batch_execute(&format!(
            "CREATE DATABASE {} TEMPLATE template0 ENCODING {}",
            quote_ident(name),
            quote_literal(encoding)
        ))
        .await
        .map_err(|e| target.error(&format!("cannot create database {name}"), &e))?;
    Ok(())
}

pub async fn drop_database(maint: &Client, target: &ConnSpec, name: &str) -> Result<()> {
    maint
        .batch_execute(&format!("DROP DATABASE IF EXISTS {}", quote_ident(name)))
        .await
        .map_err(|e| target.error(&format!("cannot drop database {name}"), &e))
}

/// Counts what a database holds beyond what PostgreSQL creates: relations, functions,
/// types, schemas other than public, extensions other than plpgsql, large objects.
pub async fn user_object_count(client: &Client, target: &ConnSpec) -> Result<i64> {
    let sql = "SELECT
        (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
            AND n.nspname !~ '^pg_toast' AND n.nspname !~ '^pg_temp')
      + (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
          WHERE n.nspname NOT IN ('pg_catalog', 'information_schema'))
      + (SELECT count(*) FROM pg_namespace
          WHERE nspname NOT IN ('pg_catalog', 'information_schema', 'public')
            AND nspname !~ '^pg_toast' AND nspname !~ '^pg_temp')
      + (SELECT count(*) FROM pg_extension WHERE extname <> 'plpgsql')
      + (SELECT count(*) FROM pg_largeobject_metadata)";
    let row = client
        .query_one(sql, &[])
        .await
        .map_err(|e| target.error("cannot inspect the target database", &e))?;
    Ok(row.get(0))
}

pub async fn table_exists(client: &Client, target: &ConnSpec, qualified: &str) -> Result<bool> {
    let row = client
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&qualified])
        .await
        .map_err(|e| target.error("cannot look up tables", &e))?;
    Ok(row.get(0))
}

pub async fn schema_exists(client: &Client, target: &ConnSpec, schema: &str) -> Result<bool> {
    let row = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)",
            &[&schema],
        )
        .await
        .map_err(|e| target.error("cannot look up schemas", &e))?;
    Ok(row.get(0))
}
