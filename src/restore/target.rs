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

/// What `CREATE DATABASE` says beyond the name and template: the encoding, and the
/// locale, provider and tablespace options (empty: the server's defaults).
#[derive(Debug, Clone, Default)]
pub struct CreateSpec {
    pub encoding: String,
    /// `LOCALE_PROVIDER = libc LOCALE = 'C' TABLESPACE = "t"`: checked on the target first.
    pub options: String,
}

/// Creates the target database; it must not exist.
pub async fn create_database(
    maint: &Client,
    target: &ConnSpec,
    name: &str,
    spec: &CreateSpec,
) -> Result<()> {
    if database_exists(maint, target, name).await? {
        return Err(Error::Restore(format!(
            "database `{name}` already exists on {}; choose another name, or pass --clean to \
             drop and replace it",
            target.display()
        )));
    }
    let mut sql = format!(
        "CREATE DATABASE {} WITH TEMPLATE = template0 ENCODING = {}",
        quote_ident(name),
        quote_literal(&spec.encoding)
    );
    if !spec.options.is_empty() {
        sql.push(' ');
        sql.push_str(&spec.options);
    }
    maint
        .batch_execute(&sql)
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

/// Where a restore writes, and what finishing or undoing it means.
#[derive(Debug)]
pub enum Placement {
    /// Into an existing database, as it is (tables, data only, or an empty database).
    Direct,
    /// Into a database this restore created: dropped if the restore fails.
    Created { name: String },
    /// Replacing an existing database (`--clean`): the restore goes into a staging database
    /// and the names are swapped only once everything is loaded, so a failure at any point
    /// leaves the existing database exactly as it was.
    Staged {
        name: String,
        staging: String,
        keep_old: bool,
    },
}

/// A name for a staging (or replaced) database beside `name`, within the 63-byte limit.
fn beside(name: &str, tag: &str) -> String {
    let suffix = format!("_{tag}_{:06x}", rand::random::<u32>() & 0xff_ffff);
    let mut base: String = name.to_string();
    while base.len() + suffix.len() > 63 {
        base.pop();
    }
    base + &suffix
}

/// Where the restore will go, decided before anything is written.
#[derive(Debug)]
pub enum Plan {
    /// Into the existing database, as it is.
    Direct,
    /// Into a new database of that name.
    Create { name: String },
    /// Replacing the existing database through a staging one (`--clean`).
    Replace { name: String },
}

impl Plan {
    /// Whether the restore creates a database (and so sets its properties).
    pub fn creates(&self) -> bool {
        !matches!(self, Plan::Direct)
    }

    /// Creates the database (or the staging one).
    pub async fn execute(
        self,
        maint: &Client,
        target: &ConnSpec,
        spec: &CreateSpec,
        keep_old: bool,
    ) -> Result<Placement> {
        match self {
            Plan::Direct => Ok(Placement::Direct),
            Plan::Create { name } => {
                create_database(maint, target, &name, spec).await?;
                Ok(Placement::Created { name })
            }
            Plan::Replace { name } => {
                let staging = beside(&name, "lifeboat");
                create_database(maint, target, &staging, spec).await?;
                tracing::info!(database = name, staging, "restoring beside the existing database; it is replaced only once the restore is complete");
                Ok(Placement::Staged {
                    name,
                    staging,
                    keep_old,
                })
            }
        }
    }
}

/// Decides where the restore goes, checking that restoring into an existing database is
/// what was asked. Writes nothing.
pub async fn decide(
    maint: &Client,
    target: &ConnSpec,
    opts: &super::RestoreOptions,
    whole: bool,
) -> Result<Plan> {
    let name = target.dbname().to_string();
    let exists = database_exists(maint, target, &name).await?;
    let replace = if opts.create {
        if exists && !opts.clean {
            return Err(Error::Restore(format!(
                "database `{name}` already exists on {}; choose another name, or pass --clean \
                 to replace it",
                target.display()
            )));
        }
        exists
    } else if !exists {
        return Err(Error::Restore(format!(
            "database `{name}` does not exist on {}; add --create to create it",
            target.display()
        )));
    } else if whole {
        let client = target.connect().await?;
        let n = user_object_count(&client, target).await?;
        drop(client);
        if n > 0 && !opts.clean {
            return Err(Error::Restore(format!(
                "target database {} is not empty ({n} objects); restore into a new database \
                 with --create, or pass --clean to replace it",
                target.display()
            )));
        }
        n > 0
    } else {
        return Ok(Plan::Direct);
    };
    Ok(match (replace, opts.create) {
        (true, _) => Plan::Replace { name },
        (false, true) => Plan::Create { name },
        (false, false) => Plan::Direct,
    })
}

impl Placement {
    /// The name of the database the restore writes into.
    pub fn database(&self, target: &ConnSpec) -> String {
        match self {
            Placement::Staged { staging, .. } => staging.clone(),
            _ => target.dbname().to_string(),
        }
    }

    /// The connection the restore writes through.
    pub fn conn(&self, target: &ConnSpec) -> ConnSpec {
        match self {
            Placement::Staged { staging, .. } => target.with_database(staging),
            _ => target.clone(),
        }
    }

    /// After a complete restore: swaps a staged database into place. Returns what became of
    /// the replaced database, for the report.
    pub async fn commit(&self, target: &ConnSpec) -> Result<Option<String>> {
        let Placement::Staged {
            name,
            staging,
            keep_old,
        } = self
        else {
            return Ok(None);
        };
        let maint = maintenance(target).await?;
        let old = beside(name, "replaced");
        let swap = format!(
            "ALTER DATABASE {} RENAME TO {}",
            quote_ident(name),
            quote_ident(&old)
        );
        if let Err(e) = maint.batch_execute(&swap).await {
            let in_use = e.code() == Some(&tokio_postgres::error::SqlState::OBJECT_IN_USE);
            let hint = if in_use {
                "clients are connected to it; stop them"
            } else {
                "see the server's error above"
            };
            return Err(Error::Restore(format!(
                "the restore is complete in `{staging}`, but `{name}` could not be renamed out \
                 of the way ({}; {hint}), so nothing was replaced. Finish by hand: ALTER \
                 DATABASE \"{name}\" RENAME TO \"{old}\"; ALTER DATABASE \"{staging}\" RENAME \
                 TO \"{name}\";",
                target.error("rename", &e)
            )));
        }
        let into_place = format!(
            "ALTER DATABASE {} RENAME TO {}",
            quote_ident(staging),
            quote_ident(name)
        );
        if let Err(e) = maint.batch_execute(&into_place).await {
            // Put the old one back: the user keeps what they had.
            let back = format!(
                "ALTER DATABASE {} RENAME TO {}",
                quote_ident(&old),
                quote_ident(name)
            );
            let restored = maint.batch_execute(&back).await.is_ok();
            return Err(Error::Restore(format!(
                "could not rename `{staging}` to `{name}` ({}); {}",
                target.error("rename", &e),
                if restored {
                    format!("`{name}` is back as it was; the restore stays in `{staging}`")
                } else {
                    format!("the old database is `{old}` and the restore is `{staging}`")
                }
            )));
        }
        if *keep_old {
            tracing::info!(
                database = name,
                kept = old,
                "replaced; the old database is kept (--keep-old)"
            );
            return Ok(Some(format!("the replaced database is kept as `{old}`")));
        }
        match drop_database(&maint, target, &old).await {
            Ok(()) => Ok(Some("the replaced database was dropped".into())),
            Err(e) => {
                tracing::warn!(database = old, error = %e, "could not drop the replaced database");
                Ok(Some(format!(
                    "the replaced database is left as `{old}` (it could not be dropped: {e})"
                )))
            }
        }
    }

    /// After a failed restore: drops what this restore created, and says what is left.
    pub async fn undo(&self, target: &ConnSpec) -> String {
        let (drop_name, kept) = match self {
            Placement::Direct => {
                return format!(
                    "`{}` existed before this restore and was not dropped: it may hold part of \
                     the restore; rerun with --clean to replace it",
                    target.dbname()
                )
            }
            Placement::Created { name } => (name, None),
            Placement::Staged { name, staging, .. } => (staging, Some(name)),
        };
        let dropped = match maintenance(target).await {
            Ok(maint) => drop_database(&maint, target, drop_name).await,
            Err(e) => Err(e),
        };
        let what = match dropped {
            Ok(()) => format!("the partially restored database `{drop_name}` was dropped"),
            Err(d) => format!("could not drop the partially restored database `{drop_name}`: {d}"),
        };
        match kept {
            Some(name) => format!("{what}; the existing database `{name}` was not changed"),
            None => what,
        }
    }
}
