//! Every statement that differs between MySQL and MariaDB versions, in one place.
//!
//! The function supports MySQL 5.7.6 and later (5.7, 8.0, 8.4, Aurora MySQL 2 and 3) and
//! MariaDB 10.x/11.x, but only MariaDB runs in the integration tests, so whatever depends on
//! the server's version is decided here, by [`Server`], and unit-tested for each version.

use std::time::Duration;

use super::account::{NATIVE, Plugin, native_hash};
use super::grants::Requirement;
use super::quote_string;

/// The server family and version, read once per session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Server {
    MariaDb(u32, u32, u32),
    MySql(u32, u32, u32),
}

/// Where an account's TLS requirement (`REQUIRE`) can be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequireSource {
    /// In the first `SHOW GRANTS` line (MariaDB, MySQL before 5.7.6).
    ShowGrants,
    /// Only in `mysql.user` (MySQL 5.7.6 and later keep it out of `SHOW GRANTS`).
    UserTable,
}

/// The account's TLS requirement columns in `mysql.user`, for [`RequireSource::UserTable`].
pub const USER_TLS_QUERY: &str = "SELECT CAST(ssl_type AS CHAR), CAST(ssl_cipher AS CHAR), \
     CAST(x509_issuer AS CHAR), CAST(x509_subject AS CHAR) FROM mysql.user \
     WHERE User = ? AND Host = ?";

/// Server errors that mean a statement ran into its bound: `ER_LOCK_WAIT_TIMEOUT` (1205, both
/// metadata and InnoDB locks), MySQL's `ER_QUERY_TIMEOUT` (3024, `max_execution_time`) and
/// MariaDB's `ER_STATEMENT_TIMEOUT` (1969, `max_statement_time`).
pub fn is_timeout(code: u16) -> bool {
    matches!(code, 1205 | 1969 | 3024)
}

impl Server {
    /// Reads `SELECT VERSION()`, e.g. `8.0.36`, `5.7.44-log` or `10.11.6-MariaDB-0+deb12u1`.
    pub fn from_version(version: &str) -> Self {
        let mut parts = version
            .split(|c: char| !c.is_ascii_digit())
            .map(|n| n.parse::<u32>().unwrap_or(0));
        let mut next = || parts.next().unwrap_or(0);
        let (major, minor, patch) = (next(), next(), next());
        if version.to_ascii_lowercase().contains("mariadb") {
            Self::MariaDb(major, minor, patch)
        } else {
            Self::MySql(major, minor, patch)
        }
    }

    /// Whether `ALTER USER ... ACCOUNT LOCK` exists: MySQL 5.7.6+, MariaDB 10.4.2+.
    pub fn has_account_lock(self) -> bool {
        match self {
            Self::MySql(..) => self.mysql_at_least((5, 7, 6)),
            Self::MariaDb(a, b, c) => (a, b, c) >= (10, 4, 2),
        }
    }

    fn mysql_at_least(self, version: (u32, u32, u32)) -> bool {
        matches!(self, Self::MySql(a, b, c) if (a, b, c) >= version)
    }

    /// Whether `ALTER USER CURRENT_USER() IDENTIFIED BY` changes the session user's password.
    /// MariaDB has `ALTER USER` too, but there it needs the CREATE USER privilege, which an
    /// application user lacks.
    pub fn has_alter_user(self) -> bool {
        self.mysql_at_least((5, 7, 6))
    }

    /// Run right after login: pins `sql_mode` so that neither `ANSI_QUOTES` nor
    /// `NO_BACKSLASH_ESCAPES` from the server's global mode changes how the statements the
    /// function builds, or the `SHOW GRANTS` lines it reads, are written; and bounds every lock
    /// wait and statement by `timeout`. `NO_AUTO_CREATE_USER` (gone in MySQL 8) keeps a GRANT
    /// from creating a user without a password.
    pub fn session_setup(self, timeout: Duration) -> String {
        let bound = crate::db::StatementBound(timeout);
        let seconds = bound.seconds();
        let (mode, statement_bound) = match self {
            // old_passwords = 1 would make the server expect (and PASSWORD() make) the
            // pre-4.1 hash, which no client can log in with under secure_auth.
            Self::MariaDb(..) => (
                "NO_AUTO_CREATE_USER,NO_ENGINE_SUBSTITUTION",
                Some(format!("max_statement_time = {seconds}, old_passwords = 0")),
            ),
            Self::MySql(major, _, _) if major >= 8 => (
                "NO_ENGINE_SUBSTITUTION",
                Some(format!("max_execution_time = {}", bound.millis())),
            ),
            // max_execution_time (SELECT only) came with 5.7.8.
            Self::MySql(..) => (
                "NO_AUTO_CREATE_USER,NO_ENGINE_SUBSTITUTION",
                self.mysql_at_least((5, 7, 8))
                    .then(|| format!("max_execution_time = {}", bound.millis())),
            ),
        };
        let mut sql = format!(
            "SET SESSION sql_mode = '{mode}', lock_wait_timeout = {seconds}, \
             innodb_lock_wait_timeout = {seconds}"
        );
        if let Some(bound) = statement_bound {
            sql.push_str(", ");
            sql.push_str(&bound);
        }
        sql
    }

    /// The global settings preflight reports: `old_passwords` where the server has it
    /// (MariaDB; MySQL before 8.0), `log_raw` where the function relies on the server's
    /// rewriting of password statements (MySQL 5.7.6+), `password_require_current` where it
    /// exists (MySQL 8.0.13+).
    pub fn reported_settings(self) -> &'static [&'static str] {
        match self {
            Self::MariaDb(..) => &["old_passwords"],
            _ if self.mysql_at_least((8, 0, 13)) => &["log_raw", "password_require_current"],
            _ if self.mysql_at_least((8, 0, 0)) => &["log_raw"],
            _ if self.rewrites_passwords_in_logs() => &["old_passwords", "log_raw"],
            _ => &["old_passwords"],
        }
    }

    /// What a setting from [`Server::reported_settings`] means for rotation, when it matters.
    pub fn setting_note(name: &str, value: &str) -> Option<String> {
        let on = !matches!(value, "0" | "" | "OFF");
        match name {
            "old_passwords" if on => Some(format!(
                "old_passwords = {value} (global): PASSWORD() and IDENTIFIED BY store the \
                 pre-4.1 hash, which no client logs in with under secure_auth; the function \
                 pins old_passwords = 0 in its own sessions and sends only a native hash, so \
                 rotation is unaffected, but other password changes on this server are not"
            )),
            "log_raw" if on => Some(
                "log_raw = ON (global): the general query log keeps password statements as \
                 sent, and MySQL 5.7.6+ is sent the password where no hash form keeps the \
                 account's plugin; turn log_raw off"
                    .into(),
            ),
            "password_require_current" if on => Some(
                "password_require_current = ON (global): the own-password change names the \
                 current password (REPLACE), which the function logged in with"
                    .into(),
            ),
            _ => None,
        }
    }

    /// Whether the pinned `sql_mode` reads backslashes as escapes (it does on every version).
    pub fn no_backslash_escapes(self) -> bool {
        false
    }

    /// Whether `SHOW CREATE USER`, where the function reads an account's plugin and lock state,
    /// exists: MariaDB 10.2 and MySQL 5.7.6 brought it. Older servers (past their end of life)
    /// are refused before any change.
    pub fn has_show_create_user(self) -> bool {
        match self {
            Self::MariaDb(a, b, _) => (a, b) >= (10, 2),
            Self::MySql(..) => self.mysql_at_least((5, 7, 6)),
        }
    }

    /// Whether the server writes a password statement to its logs only after replacing the
    /// password in it. MySQL 5.7.6 and later do, for the general, slow and binary logs (MySQL
    /// manual, "Passwords and Logging"); MariaDB keeps statements verbatim, so it only ever
    /// gets a hash.
    pub fn rewrites_passwords_in_logs(self) -> bool {
        self.mysql_at_least((5, 7, 6))
    }

    /// The statement that changes the session user's own password to `password`, for an
    /// account authenticating with `plugin`. Names no user, so it can only change the account
    /// that logged in. `current` is the password the session logged in with: MySQL 8.0.13+
    /// checks it (`REPLACE`) when `password_require_current` asks for it, and always accepts
    /// the right one.
    ///
    /// MariaDB and MySQL before 5.7.6 get `SET PASSWORD = '<hash>'`, which only a
    /// `mysql_native_password` account can use; any other plugin is refused (the error is the
    /// problem, for the caller to name the account). MySQL 5.7.6+ gets the password, which an
    /// unprivileged user can only send as `IDENTIFIED BY` and which the server rewrites
    /// before logging.
    pub fn set_own_password(
        self,
        plugin: &Plugin,
        password: &str,
        current: &str,
    ) -> Result<String, String> {
        if self.rewrites_passwords_in_logs() {
            let mut sql = format!(
                "ALTER USER CURRENT_USER() IDENTIFIED BY {}",
                quote_string(password, self.no_backslash_escapes())
            );
            if self.mysql_at_least((8, 0, 13)) {
                sql.push_str(" REPLACE ");
                sql.push_str(&quote_string(current, self.no_backslash_escapes()));
            }
            return Ok(sql);
        }
        self.check_plugin(plugin)?;
        Ok(format!("SET PASSWORD = '{}'", native_hash(password)))
    }

    /// As a master user, the statement that sets `account`'s password, keeping its plugin:
    /// the native hash where the account uses `mysql_native_password` (every version that has
    /// the form); the password itself only on MySQL 5.7.6+ for another plugin (rewritten
    /// before logging); refused on MariaDB for another plugin.
    pub fn set_password_for(
        self,
        account: &str,
        plugin: &Plugin,
        password: &str,
    ) -> Result<String, String> {
        let hash = native_hash(password);
        match self {
            Self::MariaDb(a, b, _) if (a, b) < (10, 2) => {
                self.check_plugin(plugin)?;
                Ok(format!("SET PASSWORD FOR {account} = '{hash}'"))
            }
            Self::MariaDb(..) => {
                self.check_plugin(plugin)?;
                Ok(format!(
                    "ALTER USER {account} IDENTIFIED BY PASSWORD '{hash}'"
                ))
            }
            _ if !self.rewrites_passwords_in_logs() => {
                self.check_plugin(plugin)?;
                Ok(format!("SET PASSWORD FOR {account} = '{hash}'"))
            }
            _ if *plugin == Plugin::Native => Ok(format!(
                "ALTER USER {account} IDENTIFIED WITH {NATIVE} AS '{hash}'"
            )),
            _ => Ok(format!(
                "ALTER USER {account} IDENTIFIED BY {}",
                quote_string(password, self.no_backslash_escapes())
            )),
        }
    }

    /// As a master user, the statements that create `account` with `password`, the plugin of
    /// the user it copies (`plugin`) and the TLS requirement `require` (the text after
    /// `REQUIRE`): one statement where the server takes both at once, so the account never
    /// exists without its requirement.
    pub fn create_user(
        self,
        account: &str,
        plugin: &Plugin,
        require: &str,
        password: &str,
    ) -> Result<Vec<String>, String> {
        let hash = native_hash(password);
        let simple_name = |name: &str| {
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        };
        Ok(match self {
            Self::MariaDb(a, b, _) if (a, b) < (10, 2) => {
                self.check_plugin(plugin)?;
                vec![
                    format!("CREATE USER {account} IDENTIFIED BY PASSWORD '{hash}'"),
                    format!("GRANT USAGE ON *.* TO {account} REQUIRE {require}"),
                ]
            }
            Self::MariaDb(..) => {
                self.check_plugin(plugin)?;
                vec![format!(
                    "CREATE USER {account} IDENTIFIED BY PASSWORD '{hash}' REQUIRE {require}"
                )]
            }
            _ if !self.rewrites_passwords_in_logs() => {
                self.check_plugin(plugin)?;
                vec![
                    format!("CREATE USER {account} IDENTIFIED BY PASSWORD '{hash}'"),
                    format!("GRANT USAGE ON *.* TO {account} REQUIRE {require}"),
                ]
            }
            _ if *plugin == Plugin::Native => vec![format!(
                "CREATE USER {account} IDENTIFIED WITH {NATIVE} AS '{hash}' REQUIRE {require}"
            )],
            _ => {
                let literal = quote_string(password, self.no_backslash_escapes());
                let with = match plugin {
                    Plugin::Other(name) if simple_name(name) => format!("WITH {name} "),
                    _ => String::new(),
                };
                vec![format!(
                    "CREATE USER {account} IDENTIFIED {with}BY {literal} REQUIRE {require}"
                )]
            }
        })
    }

    /// After a master sets `account`'s password: drops a secondary password (MySQL 8.0.14+),
    /// which a plain `ALTER USER ... IDENTIFIED BY` keeps, so that one planted while the
    /// secret leaked does not outlive the rotation. MariaDB has none.
    pub fn discard_old_password(self, account: &str) -> Option<String> {
        self.mysql_at_least((8, 0, 14))
            .then(|| format!("ALTER USER {account} DISCARD OLD PASSWORD"))
    }

    /// The query that says whether the session's own account keeps a secondary password
    /// (MySQL 8.0.14+ dual passwords): one planted while the secret leaked would survive every
    /// rotation of a user that may not discard it. Reading it takes SELECT on `mysql.user`.
    pub fn secondary_password_query(self) -> Option<&'static str> {
        self.mysql_at_least((8, 0, 14)).then_some(
            "SELECT JSON_EXTRACT(User_attributes, '$.additional_password') IS NOT NULL \
             FROM mysql.user WHERE CONCAT(User, '@', Host) = CURRENT_USER()",
        )
    }

    /// The query (one parameter, the user name) that counts how often `user` is a role, or
    /// granted to other accounts: MariaDB roles (`is_role`, `roles_mapping`); any MySQL 8
    /// account granted to another (`role_edges`). MySQL 5.7 has no roles.
    pub fn role_query(self) -> Option<&'static str> {
        match self {
            Self::MariaDb(a, b, _) if (a, b) < (10, 0) => None,
            Self::MariaDb(..) => Some(
                "SELECT COUNT(*) FROM mysql.user u WHERE u.User = ? AND (u.is_role = 'Y' \
                 OR EXISTS (SELECT 1 FROM mysql.roles_mapping m WHERE m.Role = u.User))",
            ),
            _ if self.mysql_at_least((8, 0, 0)) => {
                Some("SELECT COUNT(*) FROM mysql.role_edges WHERE FROM_USER = ?")
            }
            _ => None,
        }
    }

    /// Whether the function can set a password for an account with `plugin` on this server
    /// without the password reaching its logs; the error says why not and what to do.
    pub fn check_plugin(self, plugin: &Plugin) -> Result<(), String> {
        if self.rewrites_passwords_in_logs() {
            return Ok(());
        }
        match plugin {
            Plugin::Native => Ok(()),
            Plugin::Other(name) => Err(format!(
                "it authenticates with `{name}`; the function sends {} only a \
                 {NATIVE} hash, so that no password reaches the server's logs, and it has no \
                 hash for `{name}`. Switch the account to {NATIVE} (ALTER USER ... IDENTIFIED \
                 VIA {NATIVE} USING '<hash>'), or rotate it another way",
                match self {
                    Self::MariaDb(..) => "MariaDB",
                    Self::MySql(..) => "MySQL before 5.7.6",
                }
            )),
        }
    }

    pub fn require_source(self) -> RequireSource {
        if self.has_alter_user() {
            RequireSource::UserTable
        } else {
            RequireSource::ShowGrants
        }
    }

    /// Reads the `mysql.user` columns of [`USER_TLS_QUERY`].
    pub fn requirement_from_user_table(
        ssl_type: &str,
        cipher: &str,
        issuer: &str,
        subject: &str,
    ) -> Result<Requirement, String> {
        let part = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        match ssl_type.to_ascii_uppercase().as_str() {
            "" => Ok(Requirement::None),
            "ANY" => Ok(Requirement::Ssl),
            "X509" => Ok(Requirement::X509),
            "SPECIFIED" => Ok(Requirement::Specified {
                subject: part(subject),
                issuer: part(issuer),
                cipher: part(cipher),
            }),
            other => Err(format!("unknown ssl_type `{other}`")),
        }
    }

    /// Gives `account` exactly `requirement`, replacing whatever it had.
    pub fn require_statement(
        self,
        account: &str,
        requirement: &Requirement,
        no_backslash_escapes: bool,
    ) -> String {
        let clause = requirement.clause(no_backslash_escapes);
        match self {
            // ALTER USER ... REQUIRE came with MariaDB 10.2.
            Self::MariaDb(a, b, _) if (a, b) < (10, 2) => {
                format!("GRANT USAGE ON *.* TO {account} REQUIRE {clause}")
            }
            Self::MariaDb(..) => format!("ALTER USER {account} REQUIRE {clause}"),
            _ if self.has_alter_user() => format!("ALTER USER {account} REQUIRE {clause}"),
            _ => format!("GRANT USAGE ON *.* TO {account} REQUIRE {clause}"),
        }
    }

    /// A user account literal `'user'@'host'` for this session.
    pub fn account(self, user: &str, host: &str) -> String {
        format!(
            "{}@{}",
            quote_string(user, self.no_backslash_escapes()),
            quote_string(host, self.no_backslash_escapes())
        )
    }
}

#[cfg(test)]
mod secondary_password_tests {
    use super::*;

    #[test]
    fn only_servers_with_dual_passwords_are_asked() {
        assert!(Server::MySql(8, 0, 14).secondary_password_query().is_some());
        assert!(Server::MySql(8, 4, 0).secondary_password_query().is_some());
        assert!(Server::MySql(8, 0, 13).secondary_password_query().is_none());
        assert!(Server::MySql(5, 7, 44).secondary_password_query().is_none());
        assert!(
            Server::MariaDb(10, 11, 0)
                .secondary_password_query()
                .is_none()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MYSQL_57: &str = "5.7.44-log";
    const MYSQL_80: &str = "8.0.36";
    const MYSQL_84: &str = "8.4.3";
    const MARIADB: &str = "10.11.6-MariaDB-0+deb12u1";

    fn spec() -> Requirement {
        Requirement::Specified {
            subject: Some("/CN=x".into()),
            issuer: Some("/CN=y".into()),
            cipher: Some("ECDHE-RSA-AES256-GCM-SHA384".into()),
        }
    }

    #[test]
    fn versions_are_read() {
        assert_eq!(Server::from_version(MARIADB), Server::MariaDb(10, 11, 6));
        assert_eq!(Server::from_version(MYSQL_57), Server::MySql(5, 7, 44));
        assert_eq!(Server::from_version(MYSQL_84), Server::MySql(8, 4, 3));
        assert_eq!(
            Server::from_version("8.0.mysql_aurora.3.05.2"),
            Server::MySql(8, 0, 0)
        );
    }

    /// `*` + SHA1(SHA1("p")), as PASSWORD('p') shows it.
    const HASH_P: &str = "*7B9EBEED26AA52ED10C0F549FA863F13C39E0209";

    fn other(name: &str) -> Plugin {
        Plugin::Other(name.into())
    }

    #[test]
    fn the_hash_in_the_statements_is_the_native_hash() {
        assert_eq!(native_hash("p"), HASH_P);
    }

    #[test]
    fn own_password_statement_per_version() {
        let native = Plugin::Native;
        for (version, expected) in [
            (MYSQL_57, "ALTER USER CURRENT_USER() IDENTIFIED BY 'p'"),
            ("8.0.12", "ALTER USER CURRENT_USER() IDENTIFIED BY 'p'"),
            (
                MYSQL_80,
                "ALTER USER CURRENT_USER() IDENTIFIED BY 'p' REPLACE 'c''q'",
            ),
            (
                MYSQL_84,
                "ALTER USER CURRENT_USER() IDENTIFIED BY 'p' REPLACE 'c''q'",
            ),
            (MARIADB, &format!("SET PASSWORD = '{HASH_P}'")),
            ("5.7.5", &format!("SET PASSWORD = '{HASH_P}'")),
            ("5.6.51", &format!("SET PASSWORD = '{HASH_P}'")),
        ] {
            let server = Server::from_version(version);
            assert_eq!(
                server.set_own_password(&native, "p", "c'q").unwrap(),
                expected,
                "{version}"
            );
            // Whatever carries the password goes only to a server that rewrites it.
            assert_eq!(
                expected.contains("'p'"),
                server.rewrites_passwords_in_logs(),
                "{version}"
            );
        }
        // MySQL 5.7.6+ keeps any plugin; MariaDB has a hash only for the native one.
        assert!(
            Server::from_version(MYSQL_80)
                .set_own_password(&other("caching_sha2_password"), "p", "c")
                .is_ok()
        );
        for plugin in ["ed25519", "mysql_native_password OR unix_socket"] {
            let error = Server::from_version(MARIADB)
                .set_own_password(&other(plugin), "p", "c")
                .unwrap_err();
            assert!(
                error.contains(&format!("authenticates with `{plugin}`"))
                    && error.contains("Switch the account to mysql_native_password"),
                "{error}"
            );
        }
    }

    #[test]
    fn password_for_another_account_per_version() {
        let native = Plugin::Native;
        for (version, expected) in [
            (
                MYSQL_57,
                format!("ALTER USER 'u'@'%' IDENTIFIED WITH mysql_native_password AS '{HASH_P}'"),
            ),
            (
                MYSQL_80,
                format!("ALTER USER 'u'@'%' IDENTIFIED WITH mysql_native_password AS '{HASH_P}'"),
            ),
            (
                MARIADB,
                format!("ALTER USER 'u'@'%' IDENTIFIED BY PASSWORD '{HASH_P}'"),
            ),
            (
                "10.1.48-MariaDB",
                format!("SET PASSWORD FOR 'u'@'%' = '{HASH_P}'"),
            ),
            ("5.6.51", format!("SET PASSWORD FOR 'u'@'%' = '{HASH_P}'")),
        ] {
            assert_eq!(
                Server::from_version(version)
                    .set_password_for("'u'@'%'", &native, "p")
                    .unwrap(),
                expected,
                "{version}"
            );
        }
        // Another plugin keeps its own hashing: the password, to a server that rewrites it.
        for version in [MYSQL_57, MYSQL_80, MYSQL_84] {
            assert_eq!(
                Server::from_version(version)
                    .set_password_for("'u'@'%'", &other("caching_sha2_password"), "p")
                    .unwrap(),
                "ALTER USER 'u'@'%' IDENTIFIED BY 'p'",
                "{version}"
            );
        }
        for version in [MARIADB, "5.6.51"] {
            assert!(
                Server::from_version(version)
                    .set_password_for("'u'@'%'", &other("ed25519"), "p")
                    .is_err(),
                "{version}"
            );
        }
    }

    #[test]
    fn create_user_sets_password_and_requirement_at_once_per_version() {
        let native = Plugin::Native;
        let create = |version: &str, plugin: &Plugin| {
            Server::from_version(version).create_user("'u'@'%'", plugin, "SSL", "p")
        };
        assert_eq!(
            create(MARIADB, &native).unwrap(),
            [format!(
                "CREATE USER 'u'@'%' IDENTIFIED BY PASSWORD '{HASH_P}' REQUIRE SSL"
            )]
        );
        assert_eq!(
            create("10.1.48-MariaDB", &native).unwrap(),
            [
                format!("CREATE USER 'u'@'%' IDENTIFIED BY PASSWORD '{HASH_P}'"),
                "GRANT USAGE ON *.* TO 'u'@'%' REQUIRE SSL".to_owned()
            ]
        );
        assert_eq!(
            create(MYSQL_57, &native).unwrap(),
            [format!(
                "CREATE USER 'u'@'%' IDENTIFIED WITH mysql_native_password AS '{HASH_P}' \
                 REQUIRE SSL"
            )]
        );
        assert_eq!(
            create(MYSQL_84, &other("caching_sha2_password")).unwrap(),
            ["CREATE USER 'u'@'%' IDENTIFIED WITH caching_sha2_password BY 'p' REQUIRE SSL"]
        );
        assert_eq!(
            create(MYSQL_80, &other("x` OR y")).unwrap(),
            ["CREATE USER 'u'@'%' IDENTIFIED BY 'p' REQUIRE SSL"]
        );
        assert!(create(MARIADB, &other("ed25519")).is_err());
    }

    #[test]
    fn secondary_passwords_and_roles_per_version() {
        for (version, discard, roles) in [
            (MYSQL_57, false, false),
            ("8.0.13", false, true),
            ("8.0.14", true, true),
            (MYSQL_84, true, true),
            (MARIADB, false, true),
        ] {
            let server = Server::from_version(version);
            assert_eq!(
                server.discard_old_password("'u'@'%'"),
                discard.then(|| "ALTER USER 'u'@'%' DISCARD OLD PASSWORD".to_owned()),
                "{version}"
            );
            assert_eq!(server.role_query().is_some(), roles, "{version}");
        }
        assert!(
            Server::from_version(MARIADB)
                .role_query()
                .unwrap()
                .contains("roles_mapping")
        );
        assert!(
            Server::from_version(MYSQL_80)
                .role_query()
                .unwrap()
                .contains("role_edges")
        );
    }

    #[test]
    fn session_setup_per_version() {
        let t = Duration::from_secs(7);
        assert_eq!(
            Server::from_version(MARIADB).session_setup(t),
            "SET SESSION sql_mode = 'NO_AUTO_CREATE_USER,NO_ENGINE_SUBSTITUTION', \
             lock_wait_timeout = 7, innodb_lock_wait_timeout = 7, max_statement_time = 7, \
             old_passwords = 0"
        );
        assert_eq!(
            Server::from_version(MYSQL_57).session_setup(t),
            "SET SESSION sql_mode = 'NO_AUTO_CREATE_USER,NO_ENGINE_SUBSTITUTION', \
             lock_wait_timeout = 7, innodb_lock_wait_timeout = 7, max_execution_time = 7000"
        );
        for version in [MYSQL_80, MYSQL_84] {
            assert_eq!(
                Server::from_version(version).session_setup(t),
                "SET SESSION sql_mode = 'NO_ENGINE_SUBSTITUTION', lock_wait_timeout = 7, \
                 innodb_lock_wait_timeout = 7, max_execution_time = 7000",
                "{version}"
            );
        }
        assert_eq!(
            Server::from_version("5.7.6").session_setup(t),
            "SET SESSION sql_mode = 'NO_AUTO_CREATE_USER,NO_ENGINE_SUBSTITUTION', \
             lock_wait_timeout = 7, innodb_lock_wait_timeout = 7"
        );
        for version in [MYSQL_57, MYSQL_80, MYSQL_84, MARIADB] {
            assert!(!Server::from_version(version).no_backslash_escapes());
        }
    }

    #[test]
    fn tls_requirement_source_and_statement_per_version() {
        for version in [MYSQL_57, MYSQL_80, MYSQL_84] {
            let server = Server::from_version(version);
            assert_eq!(
                server.require_source(),
                RequireSource::UserTable,
                "{version}"
            );
            assert_eq!(
                server.require_statement("'c'@'%'", &spec(), false),
                "ALTER USER 'c'@'%' REQUIRE SUBJECT '/CN=x' AND ISSUER '/CN=y' AND CIPHER \
                 'ECDHE-RSA-AES256-GCM-SHA384'"
            );
            assert_eq!(
                server.require_statement("'c'@'%'", &Requirement::None, false),
                "ALTER USER 'c'@'%' REQUIRE NONE"
            );
        }
        let mariadb = Server::from_version(MARIADB);
        assert_eq!(mariadb.require_source(), RequireSource::ShowGrants);
        assert_eq!(
            mariadb.require_statement("'c'@'%'", &Requirement::X509, false),
            "ALTER USER 'c'@'%' REQUIRE X509"
        );
        assert_eq!(
            Server::from_version("10.1.48-MariaDB").require_statement(
                "'c'@'%'",
                &Requirement::Ssl,
                false
            ),
            "GRANT USAGE ON *.* TO 'c'@'%' REQUIRE SSL"
        );
        assert_eq!(
            Server::from_version("5.6.51").require_source(),
            RequireSource::ShowGrants
        );
    }

    #[test]
    fn user_table_requirements() {
        let read = Server::requirement_from_user_table;
        assert_eq!(read("", "", "", "").unwrap(), Requirement::None);
        assert_eq!(read("ANY", "", "", "").unwrap(), Requirement::Ssl);
        assert_eq!(read("X509", "", "", "").unwrap(), Requirement::X509);
        assert_eq!(
            read("SPECIFIED", "ECDHE-RSA-AES256-GCM-SHA384", "/CN=y", "/CN=x").unwrap(),
            spec()
        );
        assert_eq!(
            read("SPECIFIED", "", "", "/CN=x").unwrap(),
            Requirement::Specified {
                subject: Some("/CN=x".into()),
                issuer: None,
                cipher: None
            }
        );
        assert!(read("BOGUS", "", "", "").is_err());
    }

    #[test]
    fn settings_per_version() {
        for (version, settings) in [
            (MARIADB, &["old_passwords"][..]),
            ("5.7.5", &["old_passwords"]),
            (MYSQL_57, &["old_passwords", "log_raw"]),
            ("8.0.12", &["log_raw"]),
            (MYSQL_80, &["log_raw", "password_require_current"]),
            (MYSQL_84, &["log_raw", "password_require_current"]),
        ] {
            assert_eq!(
                Server::from_version(version).reported_settings(),
                settings,
                "{version}"
            );
        }
        assert!(Server::setting_note("log_raw", "1").is_some());
        assert!(Server::setting_note("log_raw", "0").is_none());
        assert!(Server::setting_note("old_passwords", "0").is_none());
        assert!(
            Server::setting_note("old_passwords", "1")
                .unwrap()
                .contains("pins old_passwords = 0")
        );
        assert!(Server::setting_note("password_require_current", "OFF").is_none());
        assert!(Server::setting_note("password_require_current", "1").is_some());
    }

    #[test]
    fn show_create_user_per_version() {
        for (version, has) in [
            (MARIADB, true),
            ("10.2.44-MariaDB", true),
            ("10.1.48-MariaDB", false),
            (MYSQL_57, true),
            (MYSQL_84, true),
            ("5.7.5", false),
        ] {
            assert_eq!(
                Server::from_version(version).has_show_create_user(),
                has,
                "{version}"
            );
        }
    }

    #[test]
    fn timeouts() {
        assert!(is_timeout(1205) && is_timeout(1969) && is_timeout(3024));
        assert!(!is_timeout(1045));
    }
}
