//! What a backup records about a database beyond its contents: the database's own
//! properties (what `pg_dump --create` would restore: owner, locale, grants, settings…) and
//! the inheritance children whose column order pg_dump's output would not reproduce.
//! Both are optional in the manifest (`#[serde(default)]`), so backups made before they
//! existed still load. Documented in docs/repository-format.md.

use serde::{Deserialize, Serialize};

/// The database itself, as `CREATE DATABASE` and `ALTER DATABASE` set it. The encoding is
/// [`super::manifest::DatabaseBackup::encoding`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DatabaseProperties {
    pub owner: String,
    pub locale_provider: LocaleProvider,
    /// `LC_COLLATE` and `LC_CTYPE` (libc names; also set for the other providers).
    pub collate: String,
    pub ctype: String,
    /// The ICU locale (`daticulocale` on 15–16, `datlocale` from 17) or the builtin
    /// provider's locale (17+).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    /// ICU tailoring rules (16+).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icu_rules: Option<String>,
    /// -1: no limit.
    pub connection_limit: i32,
    pub is_template: bool,
    pub allow_connections: bool,
    /// The database's default tablespace; `None` for `pg_default`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tablespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub security_labels: Vec<SecurityLabel>,
    /// The privileges on the database, entry by entry (`aclexplode(datacl)`); `None` when
    /// `datacl` is NULL, which means the defaults (the owner all, PUBLIC `CONNECT` and
    /// `TEMPORARY`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acl: Option<Vec<DatabaseGrant>>,
    /// `ALTER DATABASE … SET`, in the order the server holds them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub settings: Vec<Setting>,
    /// `ALTER ROLE … IN DATABASE … SET`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub role_settings: Vec<RoleSetting>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LocaleProvider {
    Libc,
    Icu,
    Builtin,
}

impl LocaleProvider {
    /// From `datlocprovider` (`c`, `i`, `b`).
    pub fn from_catalog(code: &str) -> Option<Self> {
        match code {
            "c" => Some(LocaleProvider::Libc),
            "i" => Some(LocaleProvider::Icu),
            "b" => Some(LocaleProvider::Builtin),
            _ => None,
        }
    }

    /// As `CREATE DATABASE … LOCALE_PROVIDER` spells it.
    pub fn as_sql(self) -> &'static str {
        match self {
            LocaleProvider::Libc => "libc",
            LocaleProvider::Icu => "icu",
            LocaleProvider::Builtin => "builtin",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct SecurityLabel {
    pub provider: String,
    pub label: String,
}

/// One privilege of one grantee, as `aclexplode` gives it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DatabaseGrant {
    /// `None` is PUBLIC.
    pub grantee: Option<String>,
    pub privilege: DatabasePrivilege,
    pub grantor: String,
    #[serde(default)]
    pub grant_option: bool,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "UPPERCASE")]
pub enum DatabasePrivilege {
    Create,
    Temporary,
    Connect,
}

impl DatabasePrivilege {
    pub const ALL: [DatabasePrivilege; 3] = [
        DatabasePrivilege::Create,
        DatabasePrivilege::Temporary,
        DatabasePrivilege::Connect,
    ];

    /// From `aclexplode`'s `privilege_type`.
    pub fn from_catalog(text: &str) -> Option<Self> {
        match text {
            "CREATE" => Some(DatabasePrivilege::Create),
            "TEMPORARY" => Some(DatabasePrivilege::Temporary),
            "CONNECT" => Some(DatabasePrivilege::Connect),
            _ => None,
        }
    }

    pub fn as_sql(self) -> &'static str {
        match self {
            DatabasePrivilege::Create => "CREATE",
            DatabasePrivilege::Temporary => "TEMPORARY",
            DatabasePrivilege::Connect => "CONNECT",
        }
    }
}

/// A configuration parameter as the server stores it (`name=value` in `setconfig`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct Setting {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct RoleSetting {
    pub role: String,
    pub name: String,
    pub value: String,
}

impl DatabaseProperties {
    /// The privileges the database has when `datacl` is NULL: what PostgreSQL's
    /// `acldefault('d', owner)` gives.
    pub fn default_acl(owner: &str) -> Vec<DatabaseGrant> {
        let mut out = Vec::new();
        for p in [DatabasePrivilege::Temporary, DatabasePrivilege::Connect] {
            out.push(DatabaseGrant {
                grantee: None,
                privilege: p,
                grantor: owner.to_string(),
                grant_option: false,
            });
        }
        for p in DatabasePrivilege::ALL {
            out.push(DatabaseGrant {
                grantee: Some(owner.to_string()),
                privilege: p,
                grantor: owner.to_string(),
                grant_option: false,
            });
        }
        out
    }

    /// The privileges in effect: the recorded ones, or the defaults.
    pub fn effective_acl(&self) -> Vec<DatabaseGrant> {
        match &self.acl {
            Some(grants) => grants.clone(),
            None => Self::default_acl(&self.owner),
        }
    }

    /// Every role the properties name (owner, grantees, grantors, per-role settings),
    /// sorted, once each.
    pub fn roles(&self) -> Vec<String> {
        let mut roles = vec![self.owner.clone()];
        for g in self.acl.iter().flatten() {
            roles.extend(g.grantee.iter().cloned());
            roles.push(g.grantor.clone());
        }
        roles.extend(self.role_settings.iter().map(|s| s.role.clone()));
        roles.sort();
        roles.dedup();
        roles
    }
}

/// A table that inherits from others and whose columns are not in the order
/// `CREATE TABLE child (…) INHERITS (parent)` would give them (a column added to a parent
/// later, a child attached with `ALTER TABLE … INHERIT`). Restore creates it with every
/// column in this order and attaches it to its parents, as pg_dump's binary-upgrade mode
/// does.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct InheritedTable {
    pub schema: String,
    pub name: String,
    /// Parents, in inheritance order.
    pub parents: Vec<QualifiedRef>,
    pub unlogged: bool,
    /// Storage parameters (`fillfactor=70`), and the TOAST table's (without `toast.`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub toast_options: Vec<String>,
    /// Every column, in the table's own order (dropped ones left out).
    pub columns: Vec<InheritedColumn>,
    /// Validated CHECK constraints, local and inherited (the others come with post-data or
    /// from the parent).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<InheritedCheck>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct QualifiedRef {
    pub schema: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct InheritedColumn {
    pub name: String,
    /// `format_type` of the column, schema-qualified.
    #[serde(rename = "type")]
    pub type_name: String,
    /// A collation other than the type's default, schema-qualified and quoted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collation: Option<String>,
    pub not_null: bool,
    /// The NOT NULL constraint's name (PostgreSQL 18+ names them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_null_name: Option<String>,
    /// Whether the NOT NULL is the table's own, not only inherited (PostgreSQL 18 records
    /// it; for older sources: whether no parent's column is NOT NULL, as pg_dump decides).
    #[serde(default = "yes")]
    pub not_null_local: bool,
    /// Defined in the table itself (`attislocal`); false for a column only inherited.
    pub local: bool,
    /// Its default expression, for a local column (an inherited one's comes as pg_dump's
    /// own `ALTER … SET DEFAULT` entry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    /// A generated column's expression and kind (`s` stored, `v` virtual).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generated: Option<Generated>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Generated {
    pub expression: String,
    pub stored: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct InheritedCheck {
    pub name: String,
    /// `pg_get_constraintdef`: `CHECK ((a > 0))` [`NO INHERIT`].
    pub definition: String,
    pub local: bool,
}

/// A database owned by `app_owner` with libc locale C and every other property at its
/// default: the starting point of the tests that compare or apply properties.
#[cfg(test)]
impl DatabaseProperties {
    pub(crate) fn example() -> Self {
        DatabaseProperties {
            owner: "app_owner".into(),
            locale_provider: LocaleProvider::Libc,
            collate: "C".into(),
            ctype: "C".into(),
            locale: None,
            icu_rules: None,
            connection_limit: -1,
            is_template: false,
            allow_connections: true,
            tablespace: None,
            comment: None,
            security_labels: vec![],
            acl: None,
            settings: vec![],
            role_settings: vec![],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_privileges_are_postgres_own() {
        let acl = DatabaseProperties::default_acl("o");
        assert_eq!(acl.len(), 5);
        assert!(acl
            .iter()
            .all(|g| g.grantor == "o" && !g.grant_option && g.privilege.as_sql() != ""));
        assert_eq!(acl.iter().filter(|g| g.grantee.is_none()).count(), 2);
    }

    #[test]
    fn serialized_names_are_the_catalog_words() {
        let g = DatabaseGrant {
            grantee: None,
            privilege: DatabasePrivilege::Connect,
            grantor: "o".into(),
            grant_option: false,
        };
        let json = serde_json::to_string(&g).unwrap();
        assert!(json.contains("\"CONNECT\""), "{json}");
        assert_eq!(
            serde_json::to_string(&LocaleProvider::Icu).unwrap(),
            "\"icu\""
        );
        assert_eq!(
            DatabasePrivilege::from_catalog("TEMPORARY"),
            Some(DatabasePrivilege::Temporary)
        );
    }
}
