//! Every statement that differs between MySQL and MariaDB versions, in one place.
//!
//! The function supports MySQL 5.7.6 and later (5.7, 8.0, 8.4, Aurora MySQL 2 and 3) and
//! MariaDB 10.x/11.x, but only MariaDB runs in the integration tests, so whatever depends on
//! the server's version is decided here, by [`Server`], and unit-tested for each version.

use std::time::Duration;

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
        let seconds = timeout.as_secs().max(1);
        let (mode, statement_bound) = match self {
            Self::MariaDb(..) => (
                "NO_AUTO_CREATE_USER,NO_ENGINE_SUBSTITUTION",
                Some(format!("max_statement_time = {seconds}")),
            ),
            Self::MySql(major, _, _) if major >= 8 => (
                "NO_ENGINE_SUBSTITUTION",
                Some(format!("max_execution_time = {}", seconds * 1000)),
            ),
            // max_execution_time (SELECT only) came with 5.7.8.
            Self::MySql(..) => (
                "NO_AUTO_CREATE_USER,NO_ENGINE_SUBSTITUTION",
                self.mysql_at_least((5, 7, 8))
                    .then(|| format!("max_execution_time = {}", seconds * 1000)),
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

    /// Whether the pinned `sql_mode` reads backslashes as escapes (it does on every version).
    pub fn no_backslash_escapes(self) -> bool {
        false
    }

    /// Changes the session user's own password (`literal` is already quoted). Names no user,
    /// so it can only change the account that logged in.
    pub fn set_own_password(self, literal: &str) -> String {
        if self.has_alter_user() {
            format!("ALTER USER CURRENT_USER() IDENTIFIED BY {literal}")
        } else {
            format!("SET PASSWORD = PASSWORD({literal})")
        }
    }

    /// As a master user, sets `account`'s password.
    pub fn set_password_for(self, account: &str, literal: &str) -> String {
        match self {
            Self::MariaDb(..) => format!("ALTER USER {account} IDENTIFIED BY {literal}"),
            _ if self.has_alter_user() => format!("ALTER USER {account} IDENTIFIED BY {literal}"),
            _ => format!("SET PASSWORD FOR {account} = PASSWORD({literal})"),
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

    #[test]
    fn own_password_statement_per_version() {
        for (version, expected) in [
            (MYSQL_57, "ALTER USER CURRENT_USER() IDENTIFIED BY 'p'"),
            (MYSQL_80, "ALTER USER CURRENT_USER() IDENTIFIED BY 'p'"),
            (MYSQL_84, "ALTER USER CURRENT_USER() IDENTIFIED BY 'p'"),
            (MARIADB, "SET PASSWORD = PASSWORD('p')"),
            ("5.7.5", "SET PASSWORD = PASSWORD('p')"),
            ("5.6.51", "SET PASSWORD = PASSWORD('p')"),
        ] {
            assert_eq!(
                Server::from_version(version).set_own_password("'p'"),
                expected,
                "{version}"
            );
        }
    }

    #[test]
    fn password_for_another_account_per_version() {
        for (version, expected) in [
            (MYSQL_57, "ALTER USER 'u'@'%' IDENTIFIED BY 'p'"),
            (MYSQL_80, "ALTER USER 'u'@'%' IDENTIFIED BY 'p'"),
            (MYSQL_84, "ALTER USER 'u'@'%' IDENTIFIED BY 'p'"),
            (MARIADB, "ALTER USER 'u'@'%' IDENTIFIED BY 'p'"),
            ("5.6.51", "SET PASSWORD FOR 'u'@'%' = PASSWORD('p')"),
        ] {
            assert_eq!(
                Server::from_version(version).set_password_for("'u'@'%'", "'p'"),
                expected,
                "{version}"
            );
        }
    }

    #[test]
    fn session_setup_per_version() {
        let t = Duration::from_secs(7);
        assert_eq!(
            Server::from_version(MARIADB).session_setup(t),
            "SET SESSION sql_mode = 'NO_AUTO_CREATE_USER,NO_ENGINE_SUBSTITUTION', \
             lock_wait_timeout = 7, innodb_lock_wait_timeout = 7, max_statement_time = 7"
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
    fn timeouts() {
        assert!(is_timeout(1205) && is_timeout(1969) && is_timeout(3024));
        assert!(!is_timeout(1045));
    }
}
