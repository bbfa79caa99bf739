//! The database's own properties at restore, in three steps:
//!
//! 1. before anything is created, the locale (and provider) and default tablespace the
//!    backup's database used are checked on the target, and become `CREATE DATABASE`'s
//!    options; a locale the target lacks is an error naming it, unless `--locale-fallback`
//!    (then the server's default, with a warning);
//! 2. after the roles (`--globals`), every role the properties name must exist;
//! 3. after the data and post-data: owner, comment, security labels, privileges,
//!    `ALTER DATABASE … SET`, `ALTER ROLE … IN DATABASE … SET`, and last the connection
//!    limit, template flag and `ALLOW_CONNECTIONS` — late so that a setting such as
//!    `default_transaction_read_only` or a connection limit cannot get in the restore's
//!    way.
//!
//! Step 3 compares with what the target database has and changes only the differences,
//! so it serves a new database and, with `--database-properties`, an existing one alike.
//! A restore into an existing database applies nothing unless asked, and says so.

use tokio_postgres::Client;

use super::target::{self, CreateSpec};
use super::RestoreOptions;
use crate::dump::database_properties;
use crate::error::{Error, Result};
use crate::postgres::{describe, major_of, quote_ident, quote_literal, ConnSpec};
use crate::repository::manifest::{
    DatabaseBackup, DatabaseGrant, DatabaseProperties, LocaleProvider,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Into an existing database without --database-properties.
    Skip,
    /// Into a database this restore creates.
    Fresh,
    /// Into an existing database, with --database-properties.
    Existing,
}

/// What this restore does with the backup's database properties.
pub struct PropertiesPlan<'a> {
    db: &'a DatabaseBackup,
    mode: Mode,
    fallback: bool,
    best_effort: bool,
    /// Roles the target lacks, skipped (best effort only).
    missing_roles: Vec<String>,
}

impl<'a> PropertiesPlan<'a> {
    /// Decides, and says once what will not be applied.
    pub fn new(db: &'a DatabaseBackup, creates: bool, opts: &RestoreOptions) -> Self {
        let mode = match (creates, opts.database_properties) {
            (true, _) => Mode::Fresh,
            (false, true) => Mode::Existing,
            (false, false) => Mode::Skip,
        };
        match (mode, &db.properties) {
            (Mode::Skip, Some(_)) => tracing::info!(
                database = db.name,
                "restoring into an existing database: its owner, locale, privileges and \
                 settings are left as they are (--database-properties applies the backup's)"
            ),
            (Mode::Fresh | Mode::Existing, None) => tracing::warn!(
                database = db.name,
                "this backup predates database properties (lifeboat recorded no owner, \
                 locale, privileges or settings for it): the database gets the server's \
                 defaults"
            ),
            _ => {}
        }
        PropertiesPlan {
            db,
            mode,
            fallback: opts.locale_fallback,
            best_effort: opts.best_effort_properties,
            missing_roles: Vec::new(),
        }
    }

    fn properties(&self) -> Option<&'a DatabaseProperties> {
        match self.mode {
            Mode::Skip => None,
            _ => self.db.properties.as_ref(),
        }
    }

    /// Step 1, before anything is created: `CREATE DATABASE`'s options, each checked on
    /// the target.
    pub async fn create_spec(
        &self,
        maint: &Client,
        target: &ConnSpec,
        target_version: u32,
    ) -> Result<CreateSpec> {
        let mut spec = CreateSpec {
            encoding: self.db.encoding.clone(),
            options: String::new(),
        };
        let Some(p) = self.properties().filter(|_| self.mode == Mode::Fresh) else {
            return Ok(spec);
        };
        let major = major_of(target_version);
        match check_locale(maint, p, major).await {
            Ok(()) => spec.options = locale_options(p, major),
            Err(problem) if self.fallback || self.best_effort => tracing::warn!(
                database = self.db.name,
                "the target cannot use the backup's {problem}; the database gets the server's \
                 default locale instead (--locale-fallback): sorting and character classes \
                 may differ from the source"
            ),
            Err(problem) => {
                return Err(Error::Restore(format!(
                    "the backup's database `{}` uses {problem}, which {} cannot use. Install \
                     that locale on the target server (or restore into one that has it), or \
                     pass --locale-fallback to create the database with the server's default \
                     locale instead",
                    self.db.name,
                    target.display()
                )))
            }
        }
        if let Some(ts) = &p.tablespace {
            if tablespace_exists(maint, target, ts).await? {
                spec.options
                    .push_str(&format!(" TABLESPACE = {}", quote_ident(ts)));
            } else if self.best_effort {
                tracing::warn!(
                    tablespace = ts,
                    "the target has no tablespace of this name; the database goes into the default one"
                );
            } else {
                return Err(Error::Restore(format!(
                    "the backup's database `{}` has the default tablespace `{ts}`, which {} \
                     lacks; create it first (restore --globals creates the backup's \
                     tablespaces)",
                    self.db.name,
                    target.display()
                )));
            }
        }
        Ok(spec.trimmed())
    }

    /// Step 2, once the roles are in place: every role the properties name exists.
    pub async fn check_roles(&mut self, maint: &Client, target: &ConnSpec) -> Result<()> {
        let Some(p) = self.properties() else {
            return Ok(());
        };
        let wanted = p.roles();
        let rows = maint
            .query(
                "SELECT r FROM unnest($1::text[]) AS r
                  WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r)
                  ORDER BY r",
                &[&wanted],
            )
            .await
            .map_err(|e| target.error("cannot look up roles", &e))?;
        let missing: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
        if missing.is_empty() {
            return Ok(());
        }
        if self.best_effort {
            tracing::warn!(
                roles = missing.join(", "),
                "roles the database's owner, privileges or settings name are missing; those are left out"
            );
            self.missing_roles = missing;
            return Ok(());
        }
        Err(Error::Restore(format!(
            "the backup's database `{}` names roles that {} lacks: {} (its owner, privileges \
             or per-role settings). Restore with --globals to create the backup's roles first \
             (the backup must have been taken with --globals), or create them",
            self.db.name,
            target.display(),
            missing.join(", ")
        )))
    }

    /// Step 3, after the data and post-data: everything else, into database `name`.
    pub async fn apply(&self, target: &ConnSpec, name: &str, target_version: u32) -> Result<()> {
        let Some(p) = self.properties() else {
            return Ok(());
        };
        let maint = target::maintenance(target).await?;
        let read = || database_properties(&maint, target, target_version, name);
        let mut current = read().await?;
        if self.mode == Mode::Existing {
            warn_unchangeable(name, p, &current);
        }
        if current.owner != p.owner && !self.missing(&p.owner) {
            let sql = format!(
                "ALTER DATABASE {} OWNER TO {}",
                quote_ident(name),
                quote_ident(&p.owner)
            );
            self.run(&maint, target, name, "owner", &sql).await?;
            current = read().await?;
        }
        for (what, sql) in statements(name, p, &current, &self.missing_roles) {
            self.run(&maint, target, name, &what, &sql).await?;
        }
        tracing::info!(database = name, "database properties applied");
        Ok(())
    }

    fn missing(&self, role: &str) -> bool {
        self.missing_roles.iter().any(|r| r == role)
    }

    async fn run(
        &self,
        maint: &Client,
        target: &ConnSpec,
        name: &str,
        what: &str,
        sql: &str,
    ) -> Result<()> {
        let Err(e) = maint.batch_execute(sql).await else {
            return Ok(());
        };
        if self.best_effort {
            let _ = maint.batch_execute("RESET ROLE").await;
            tracing::warn!(
                database = name,
                "could not apply the database's {what}: {}",
                describe(&e)
            );
            return Ok(());
        }
        Err(Error::Restore(format!(
            "applying the database's {what} to `{name}` on {}: {}",
            target.display(),
            describe(&e)
        )))
    }
}

impl CreateSpec {
    fn trimmed(mut self) -> Self {
        self.options = self.options.trim().to_string();
        self
    }
}

/// An existing database keeps its locale and tablespace: say so when they differ.
fn warn_unchangeable(name: &str, want: &DatabaseProperties, have: &DatabaseProperties) {
    let locale = |p: &DatabaseProperties| {
        (
            p.locale_provider,
            p.collate.clone(),
            p.ctype.clone(),
            p.locale.clone(),
        )
    };
    if locale(want) != locale(have) {
        tracing::warn!(
            database = name,
            "the existing database's locale ({}) differs from the backup's ({}) and cannot be \
             changed in place; restore with --create or --clean to recreate it",
            describe_locale(have),
            describe_locale(want)
        );
    }
    if want.tablespace != have.tablespace {
        tracing::warn!(
            database = name,
            "the existing database's default tablespace differs from the backup's; it is left as it is"
        );
    }
}

fn describe_locale(p: &DatabaseProperties) -> String {
    let libc = if p.collate == p.ctype {
        format!("libc locale \"{}\"", p.collate)
    } else {
        format!(
            "libc LC_COLLATE \"{}\" and LC_CTYPE \"{}\"",
            p.collate, p.ctype
        )
    };
    match (p.locale_provider, &p.locale) {
        (LocaleProvider::Libc, _) => libc,
        (provider, locale) => format!(
            "{} locale \"{}\"{} ({libc})",
            match provider {
                LocaleProvider::Icu => "ICU",
                _ => "builtin",
            },
            locale.as_deref().unwrap_or(""),
            p.icu_rules
                .as_ref()
                .map(|r| format!(" with rules \"{r}\""))
                .unwrap_or_default()
        ),
    }
}

fn trivial_locale(name: &str) -> bool {
    matches!(name, "C" | "POSIX")
}

/// The `CREATE COLLATION` options that load each locale the database needs, or why this
/// target cannot have it at all.
fn probes(p: &DatabaseProperties, major: u32) -> std::result::Result<Vec<String>, String> {
    let mut out = Vec::new();
    if !(trivial_locale(&p.collate) && trivial_locale(&p.ctype)) {
        out.push(format!(
            "provider = libc, lc_collate = {}, lc_ctype = {}",
            quote_literal(&p.collate),
            quote_literal(&p.ctype)
        ));
    }
    let locale = quote_literal(p.locale.as_deref().unwrap_or(""));
    match p.locale_provider {
        LocaleProvider::Libc => {}
        LocaleProvider::Icu if major < 15 => {
            return Err(format!(
                "{}: ICU as a database's locale provider needs PostgreSQL 15 or newer",
                describe_locale(p)
            ))
        }
        LocaleProvider::Icu => match &p.icu_rules {
            Some(_) if major < 16 => {
                return Err(format!(
                    "{}: ICU rules need PostgreSQL 16 or newer",
                    describe_locale(p)
                ))
            }
            Some(rules) => out.push(format!(
                "provider = icu, locale = {locale}, rules = {}",
                quote_literal(rules)
            )),
            None => out.push(format!("provider = icu, locale = {locale}")),
        },
        LocaleProvider::Builtin if major < 17 => {
            return Err(format!(
                "{}: the builtin locale provider needs PostgreSQL 17 or newer",
                describe_locale(p)
            ))
        }
        LocaleProvider::Builtin => out.push(format!("provider = builtin, locale = {locale}")),
    }
    Ok(out)
}

/// Loads each locale in a collation created and rolled back at once: the server checks
/// the locale exists as `CREATE DATABASE` would. Returns the problem, described.
async fn check_locale(
    maint: &Client,
    p: &DatabaseProperties,
    major: u32,
) -> std::result::Result<(), String> {
    for options in probes(p, major)? {
        let sql =
            format!("BEGIN; CREATE COLLATION pg_temp.lifeboat_locale_probe ({options}); ROLLBACK;");
        if let Err(e) = maint.batch_execute(&sql).await {
            let _ = maint.batch_execute("ROLLBACK").await;
            return Err(format!("{} ({})", describe_locale(p), describe(&e)));
        }
    }
    Ok(())
}

/// `CREATE DATABASE`'s locale options for this target major.
fn locale_options(p: &DatabaseProperties, major: u32) -> String {
    let mut o = Vec::new();
    if major >= 15 {
        o.push(format!("LOCALE_PROVIDER = {}", p.locale_provider.as_sql()));
    }
    if p.collate == p.ctype {
        o.push(format!("LOCALE = {}", quote_literal(&p.collate)));
    } else {
        o.push(format!("LC_COLLATE = {}", quote_literal(&p.collate)));
        o.push(format!("LC_CTYPE = {}", quote_literal(&p.ctype)));
    }
    if let Some(l) = &p.locale {
        match p.locale_provider {
            LocaleProvider::Icu => o.push(format!("ICU_LOCALE = {}", quote_literal(l))),
            LocaleProvider::Builtin => o.push(format!("BUILTIN_LOCALE = {}", quote_literal(l))),
            LocaleProvider::Libc => {}
        }
    }
    if let Some(r) = &p.icu_rules {
        o.push(format!("ICU_RULES = {}", quote_literal(r)));
    }
    o.join(" ")
}

async fn tablespace_exists(maint: &Client, target: &ConnSpec, name: &str) -> Result<bool> {
    let row = maint
        .query_opt(
            "SELECT 1 FROM pg_catalog.pg_tablespace WHERE spcname = $1",
            &[&name],
        )
        .await
        .map_err(|e| target.error("cannot look up tablespaces", &e))?;
    Ok(row.is_some())
}

/// Parameters whose value is a list of names, each quoted on its own (pg_dump's
/// `variable_is_guc_list_quote`).
const LIST_PARAMETERS: [&str; 6] = [
    "local_preload_libraries",
    "search_path",
    "session_preload_libraries",
    "shared_preload_libraries",
    "temp_tablespaces",
    "unix_socket_directories",
];

/// `name TO value` for `SET`, from a value as `pg_db_role_setting` stores it.
pub fn set_clause(name: &str, value: &str) -> String {
    let rendered = if LIST_PARAMETERS.contains(&name.to_ascii_lowercase().as_str()) {
        let items: Vec<String> = split_list(value).iter().map(|i| quote_literal(i)).collect();
        if items.is_empty() {
            "''".to_string()
        } else {
            items.join(", ")
        }
    } else {
        quote_literal(value)
    };
    format!("{} TO {rendered}", quote_ident(name))
}

/// A list value (`app, "$user", public`) as its names, double quotes removed.
fn split_list(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut item = String::new();
    let mut quoted = false;
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                item.push('"');
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut item)),
            c if c.is_whitespace() && !quoted => {}
            c => item.push(c),
        }
    }
    if !item.is_empty() || !out.is_empty() {
        out.push(item);
    }
    out
}

/// What makes the target database's properties the backup's, once its owner is right:
/// `(what, SQL)` in order. Roles in `missing` are left out.
fn statements(
    name: &str,
    want: &DatabaseProperties,
    have: &DatabaseProperties,
    missing: &[String],
) -> Vec<(String, String)> {
    let db = quote_ident(name);
    let gone = |r: &str| missing.iter().any(|m| m == r);
    let mut out: Vec<(String, String)> = Vec::new();
    if want.comment != have.comment {
        let text = want
            .comment
            .as_deref()
            .map_or("NULL".to_string(), quote_literal);
        out.push((
            "comment".into(),
            format!("COMMENT ON DATABASE {db} IS {text}"),
        ));
    }
    for l in &want.security_labels {
        if !have.security_labels.contains(l) {
            out.push((
                format!("security label ({})", l.provider),
                format!(
                    "SECURITY LABEL FOR {} ON DATABASE {db} IS {}",
                    quote_ident(&l.provider),
                    quote_literal(&l.label)
                ),
            ));
        }
    }
    for l in &have.security_labels {
        if !want
            .security_labels
            .iter()
            .any(|w| w.provider == l.provider)
        {
            out.push((
                format!("security label ({})", l.provider),
                format!(
                    "SECURITY LABEL FOR {} ON DATABASE {db} IS NULL",
                    quote_ident(&l.provider)
                ),
            ));
        }
    }
    let acl = acl_statements(
        &db,
        &want.owner,
        &have.effective_acl(),
        &want.effective_acl(),
    );
    out.extend(
        acl.into_iter()
            .filter(|(g, _)| !gone(&g.grantor) && !g.grantee.as_deref().is_some_and(&gone))
            .map(|(_, sql)| ("privileges".to_string(), sql)),
    );
    for s in &have.settings {
        if !want.settings.iter().any(|w| w.name == s.name) {
            out.push((
                format!("setting {}", s.name),
                format!("ALTER DATABASE {db} RESET {}", quote_ident(&s.name)),
            ));
        }
    }
    for s in &want.settings {
        if !have.settings.contains(s) {
            out.push((
                format!("setting {}", s.name),
                format!("ALTER DATABASE {db} SET {}", set_clause(&s.name, &s.value)),
            ));
        }
    }
    for s in &have.role_settings {
        if !want
            .role_settings
            .iter()
            .any(|w| w.role == s.role && w.name == s.name)
        {
            out.push((
                format!("setting {} of role {}", s.name, s.role),
                format!(
                    "ALTER ROLE {} IN DATABASE {db} RESET {}",
                    quote_ident(&s.role),
                    quote_ident(&s.name)
                ),
            ));
        }
    }
    for s in &want.role_settings {
        if !have.role_settings.contains(s) && !gone(&s.role) {
            out.push((
                format!("setting {} of role {}", s.name, s.role),
                format!(
                    "ALTER ROLE {} IN DATABASE {db} SET {}",
                    quote_ident(&s.role),
                    set_clause(&s.name, &s.value)
                ),
            ));
        }
    }
    if want.connection_limit != have.connection_limit {
        out.push((
            "connection limit".into(),
            format!(
                "ALTER DATABASE {db} WITH CONNECTION LIMIT = {}",
                want.connection_limit
            ),
        ));
    }
    if want.is_template != have.is_template {
        out.push((
            "template flag".into(),
            format!(
                "ALTER DATABASE {db} WITH IS_TEMPLATE = {}",
                want.is_template
            ),
        ));
    }
    if want.allow_connections != have.allow_connections {
        out.push((
            "ALLOW_CONNECTIONS".into(),
            format!(
                "ALTER DATABASE {db} WITH ALLOW_CONNECTIONS = {}",
                want.allow_connections
            ),
        ));
    }
    out
}

/// REVOKEs then GRANTs that turn `have` into `want`, each run as its grantor (a superuser
/// or the owner grants as the owner; another grantor by `SET ROLE`), the owner's own
/// grants first so that grant options exist before they are used.
fn acl_statements<'g>(
    db: &str,
    owner: &str,
    have: &[DatabaseGrant],
    want: &'g [DatabaseGrant],
) -> Vec<(DatabaseGrant, String)> {
    let as_grantor = |grantor: &str, sql: String| {
        if grantor == owner {
            sql
        } else {
            format!("SET ROLE {}; {sql}; RESET ROLE", quote_ident(grantor))
        }
    };
    let grantee = |g: &DatabaseGrant| {
        g.grantee
            .as_deref()
            .map_or("PUBLIC".to_string(), quote_ident)
    };
    let mut out = Vec::new();
    for g in have.iter().filter(|g| !want.contains(g)) {
        let sql = format!(
            "REVOKE {} ON DATABASE {db} FROM {} CASCADE",
            g.privilege.as_sql(),
            grantee(g)
        );
        out.push((g.clone(), as_grantor(&g.grantor, sql)));
    }
    let mut grants: Vec<&'g DatabaseGrant> = want.iter().filter(|g| !have.contains(g)).collect();
    grants.sort_by_key(|g| g.grantor != owner);
    for g in grants {
        let sql = format!(
            "GRANT {} ON DATABASE {db} TO {}{}",
            g.privilege.as_sql(),
            grantee(g),
            if g.grant_option {
                " WITH GRANT OPTION"
            } else {
                ""
            }
        );
        out.push((g.clone(), as_grantor(&g.grantor, sql)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repository::manifest::{DatabasePrivilege, RoleSetting, Setting};

    fn props() -> DatabaseProperties {
        DatabaseProperties::example()
    }

    fn grant(grantee: Option<&str>, p: DatabasePrivilege) -> DatabaseGrant {
        DatabaseGrant {
            grantee: grantee.map(str::to_string),
            privilege: p,
            grantor: "app_owner".into(),
            grant_option: false,
        }
    }

    #[test]
    fn list_parameters_quote_each_name() {
        assert_eq!(
            set_clause("search_path", "app, \"$user\", public"),
            "\"search_path\" TO 'app', '$user', 'public'"
        );
        assert_eq!(set_clause("search_path", ""), "\"search_path\" TO ''");
        assert_eq!(set_clause("work_mem", "8MB"), "\"work_mem\" TO '8MB'");
        assert_eq!(
            set_clause("search_path", "\"a,\"\"b\", c"),
            "\"search_path\" TO 'a,\"b', 'c'"
        );
    }

    #[test]
    fn a_closed_database_stays_closed() {
        use DatabasePrivilege::*;
        let mut want = props();
        want.acl = Some(vec![
            grant(Some("app_owner"), Create),
            grant(Some("app_owner"), Temporary),
            grant(Some("app_owner"), Connect),
            grant(Some("app_reader"), Connect),
        ]);
        want.comment = Some("the app's".into());
        want.settings = vec![Setting {
            name: "search_path".into(),
            value: "app, public".into(),
        }];
        want.role_settings = vec![RoleSetting {
            role: "app_reader".into(),
            name: "work_mem".into(),
            value: "16MB".into(),
        }];
        want.connection_limit = 5;
        let have = props();
        let sql: Vec<String> = statements("app", &want, &have, &[])
            .into_iter()
            .map(|(_, s)| s)
            .collect();
        assert_eq!(
            sql,
            [
                "COMMENT ON DATABASE \"app\" IS 'the app''s'",
                "REVOKE TEMPORARY ON DATABASE \"app\" FROM PUBLIC CASCADE",
                "REVOKE CONNECT ON DATABASE \"app\" FROM PUBLIC CASCADE",
                "GRANT CONNECT ON DATABASE \"app\" TO \"app_reader\"",
                "ALTER DATABASE \"app\" SET \"search_path\" TO 'app', 'public'",
                "ALTER ROLE \"app_reader\" IN DATABASE \"app\" SET \"work_mem\" TO '16MB'",
                "ALTER DATABASE \"app\" WITH CONNECTION LIMIT = 5",
            ]
        );
        // Nothing to do once equal; a missing role's grant and setting are left out.
        assert!(statements("app", &want, &want, &[]).is_empty());
        let skipped = statements("app", &want, &have, &["app_reader".into()]);
        assert!(skipped.iter().all(|(_, s)| !s.contains("app_reader")));
    }

    #[test]
    fn grants_by_another_grantor_run_as_that_role() {
        let have = DatabaseProperties::default_acl("o");
        let mut want = have.clone();
        want.push(DatabaseGrant {
            grantee: Some("x".into()),
            privilege: DatabasePrivilege::Connect,
            grantor: "g".into(),
            grant_option: false,
        });
        want.push(DatabaseGrant {
            grantee: Some("g".into()),
            privilege: DatabasePrivilege::Connect,
            grantor: "o".into(),
            grant_option: true,
        });
        let sql: Vec<String> = acl_statements("\"d\"", "o", &have, &want)
            .into_iter()
            .map(|(_, s)| s)
            .collect();
        assert_eq!(
            sql,
            [
                "GRANT CONNECT ON DATABASE \"d\" TO \"g\" WITH GRANT OPTION",
                "SET ROLE \"g\"; GRANT CONNECT ON DATABASE \"d\" TO \"x\"; RESET ROLE",
            ]
        );
    }

    #[test]
    fn locale_options_and_probes_per_major() {
        let mut p = props();
        assert_eq!(locale_options(&p, 14), "LOCALE = 'C'");
        assert_eq!(
            locale_options(&p, 18),
            "LOCALE_PROVIDER = libc LOCALE = 'C'"
        );
        assert_eq!(probes(&p, 18).unwrap(), Vec::<String>::new());
        p.collate = "de_DE.UTF-8".into();
        assert_eq!(
            locale_options(&p, 15),
            "LOCALE_PROVIDER = libc LC_COLLATE = 'de_DE.UTF-8' LC_CTYPE = 'C'"
        );
        assert_eq!(probes(&p, 14).unwrap().len(), 1);
        p.locale_provider = LocaleProvider::Icu;
        p.locale = Some("und".into());
        p.icu_rules = Some("&a < b".into());
        assert!(probes(&p, 14).unwrap_err().contains("PostgreSQL 15"));
        assert!(probes(&p, 15)
            .unwrap_err()
            .contains("rules need PostgreSQL 16"));
        assert!(probes(&p, 16).unwrap()[1].contains("rules = '&a < b'"));
        assert!(locale_options(&p, 16).ends_with("ICU_LOCALE = 'und' ICU_RULES = '&a < b'"));
        p.locale_provider = LocaleProvider::Builtin;
        p.icu_rules = None;
        p.locale = Some("C.UTF-8".into());
        assert!(probes(&p, 16).unwrap_err().contains("builtin"));
        assert!(locale_options(&p, 17).ends_with("BUILTIN_LOCALE = 'C.UTF-8'"));
    }
}
