//! The database's own properties, read from the shared catalogs as pg_dump's
//! `dumpDatabase` / `dumpDatabaseConfig` read them, for every supported major: the locale
//! columns changed over the years (`datlocprovider` since 15, `daticulocale` on 15–16
//! renamed `datlocale` in 17, `daticurules` since 16, the builtin provider since 17).
//!
//! The backup reads them in its snapshot; `verify` reads the restored database's the same
//! way to compare.

use tokio_postgres::Client;

use crate::error::{Error, Result};
use crate::postgres::ConnSpec;
use crate::repository::manifest::{
    DatabaseGrant, DatabasePrivilege, DatabaseProperties, LocaleProvider, RoleSetting,
    SecurityLabel, Setting,
};

/// The catalog columns of this major, as `provider, locale, icu_rules`.
fn locale_columns(version_num: u32) -> &'static str {
    match version_num {
        v if v >= 170000 => "d.datlocprovider::text, d.datlocale, d.daticurules",
        v if v >= 160000 => "d.datlocprovider::text, d.daticulocale, d.daticurules",
        v if v >= 150000 => "d.datlocprovider::text, d.daticulocale, NULL::text",
        _ => "'c'::text, NULL::text, NULL::text",
    }
}

/// Reads the properties of database `name`.
pub async fn database_properties(
    client: &Client,
    conn: &ConnSpec,
    version_num: u32,
    name: &str,
) -> Result<DatabaseProperties> {
    let err = |e: &tokio_postgres::Error| conn.error("cannot read the database's properties", e);
    let sql = format!(
        "SELECT pg_catalog.pg_get_userbyid(d.datdba)::text, d.datcollate::text,
                d.datctype::text, {},
                d.datconnlimit, d.datistemplate, d.datallowconn,
                NULLIF(t.spcname::text, 'pg_default'),
                pg_catalog.shobj_description(d.oid, 'pg_database'),
                d.datacl IS NULL
           FROM pg_catalog.pg_database d
           JOIN pg_catalog.pg_tablespace t ON t.oid = d.dattablespace
          WHERE d.datname = $1",
        locale_columns(version_num)
    );
    let row = client
        .query_opt(&sql, &[&name])
        .await
        .map_err(|e| err(&e))?
        .ok_or_else(|| Error::Postgres {
            target: conn.display(),
            reason: format!("database `{name}` does not exist"),
        })?;
    let provider: String = row.get(3);
    let locale_provider = LocaleProvider::from_catalog(&provider).ok_or_else(|| {
        Error::Backup(format!(
            "database {name} uses locale provider `{provider}`, which this lifeboat does not \
             know; upgrade lifeboat"
        ))
    })?;
    let default_acl: bool = row.get(11);
    let acl = if default_acl {
        None
    } else {
        Some(grants(client, name).await.map_err(|e| err(&e))?)
    };
    let (settings, role_settings) = settings(client, name).await.map_err(|e| err(&e))?;
    Ok(DatabaseProperties {
        owner: row.get(0),
        locale_provider,
        collate: row.get(1),
        ctype: row.get(2),
        locale: row.get(4),
        icu_rules: row.get(5),
        connection_limit: row.get(6),
        is_template: row.get(7),
        allow_connections: row.get(8),
        tablespace: row.get(9),
        comment: row.get(10),
        security_labels: security_labels(client, name).await.map_err(|e| err(&e))?,
        acl,
        settings,
        role_settings,
    })
}

/// `datacl` entry by entry, in its order.
async fn grants(
    client: &Client,
    name: &str,
) -> std::result::Result<Vec<DatabaseGrant>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT CASE WHEN a.grantee = 0 THEN NULL
                         ELSE pg_catalog.pg_get_userbyid(a.grantee)::text END,
                    a.privilege_type, pg_catalog.pg_get_userbyid(a.grantor)::text,
                    a.is_grantable
               FROM pg_catalog.pg_database d,
                    pg_catalog.aclexplode(d.datacl) WITH ORDINALITY AS a
              WHERE d.datname = $1
              ORDER BY a.ordinality",
            &[&name],
        )
        .await?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            let privilege = DatabasePrivilege::from_catalog(r.get::<_, &str>(1))?;
            Some(DatabaseGrant {
                grantee: r.get(0),
                privilege,
                grantor: r.get(2),
                grant_option: r.get(3),
            })
        })
        .collect())
}

/// `ALTER DATABASE … SET` and `ALTER ROLE … IN DATABASE … SET`, as `pg_db_role_setting`
/// holds them.
async fn settings(
    client: &Client,
    name: &str,
) -> std::result::Result<(Vec<Setting>, Vec<RoleSetting>), tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT CASE WHEN s.setrole = 0 THEN NULL
                         ELSE pg_catalog.pg_get_userbyid(s.setrole)::text END, c.setting
               FROM pg_catalog.pg_db_role_setting s
               JOIN pg_catalog.pg_database d ON d.oid = s.setdatabase,
                    unnest(s.setconfig) WITH ORDINALITY AS c(setting, n)
              WHERE d.datname = $1
              ORDER BY s.setrole <> 0, 1, c.n",
            &[&name],
        )
        .await?;
    let mut db = Vec::new();
    let mut roles = Vec::new();
    for r in rows {
        let role: Option<String> = r.get(0);
        let setting: String = r.get(1);
        let (name, value) = setting.split_once('=').unwrap_or((&setting, ""));
        match role {
            None => db.push(Setting {
                name: name.to_string(),
                value: value.to_string(),
            }),
            Some(role) => roles.push(RoleSetting {
                role,
                name: name.to_string(),
                value: value.to_string(),
            }),
        }
    }
    Ok((db, roles))
}

async fn security_labels(
    client: &Client,
    name: &str,
) -> std::result::Result<Vec<SecurityLabel>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT l.provider, l.label
               FROM pg_catalog.pg_shseclabel l
               JOIN pg_catalog.pg_database d ON d.oid = l.objoid
              WHERE l.classoid = 'pg_catalog.pg_database'::pg_catalog.regclass
                AND d.datname = $1
              ORDER BY 1",
            &[&name],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| SecurityLabel {
            provider: r.get(0),
            label: r.get(1),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::locale_columns;

    #[test]
    fn each_major_reads_its_own_locale_columns() {
        assert!(locale_columns(140010).starts_with("'c'"));
        assert!(locale_columns(150004).contains("daticulocale, NULL"));
        assert!(locale_columns(160002).contains("daticulocale, d.daticurules"));
        assert!(locale_columns(170000).contains("datlocale"));
        assert!(locale_columns(180001).contains("datlocale"));
    }
}
