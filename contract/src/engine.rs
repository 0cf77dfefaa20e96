//! The database engines a secret's `engine` field may name, and what each accepts.
//!
//! Every limit here is the engine's own, with where it comes from, so the stack refuses at
//! render time what the function would refuse at rotation time.

/// The engines of the RDS secret format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "kebab-case"))]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub enum Engine {
    Postgres,
    AuroraPostgresql,
    Mysql,
    AuroraMysql,
    Mariadb,
}

/// Engines that share a wire protocol, an SQL dialect and their limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EngineFamily {
    Postgres,
    MySql,
}

/// PostgreSQL truncates names to NAMEDATALEN - 1 = 63 bytes (`src/include/pg_config_manual.h`).
pub const POSTGRES_MAX_USERNAME_BYTES: usize = 63;
/// MariaDB accepts user names of up to 80 characters (`mysql.global_priv.User` is
/// `char(80)`, since 10.0).
pub const MARIADB_MAX_USERNAME_CHARS: usize = 80;
/// MySQL accepts 32 characters since 5.7.8 (16 before): `MYSQL_MAX_USER_LENGTH` chooses, within
/// [`crate::env::MYSQL_MAX_USER_LENGTH`]'s range.
pub const MYSQL_MAX_USERNAME_CHARS: usize = 32;

impl Engine {
    /// Every engine, in the order error messages list them.
    pub const ALL: [Engine; 5] = [
        Self::Postgres,
        Self::AuroraPostgresql,
        Self::Mysql,
        Self::AuroraMysql,
        Self::Mariadb,
    ];

    /// The names exactly as the secret format spells them.
    pub const NAMES: [&'static str; 5] = [
        "postgres",
        "aurora-postgresql",
        "mysql",
        "aurora-mysql",
        "mariadb",
    ];

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|engine| engine.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Postgres => "postgres",
            Self::AuroraPostgresql => "aurora-postgresql",
            Self::Mysql => "mysql",
            Self::AuroraMysql => "aurora-mysql",
            Self::Mariadb => "mariadb",
        }
    }

    pub fn family(self) -> EngineFamily {
        match self {
            Self::Postgres | Self::AuroraPostgresql => EngineFamily::Postgres,
            Self::Mysql | Self::AuroraMysql | Self::Mariadb => EngineFamily::MySql,
        }
    }

    pub fn default_port(self) -> u16 {
        self.family().default_port()
    }

    /// Whether `username` fits the engine: PostgreSQL counts bytes, MySQL and MariaDB count
    /// characters; `mysql_limit` is the configured MySQL limit. `Err((length, limit))`.
    pub fn username_fits(self, username: &str, mysql_limit: usize) -> Result<(), (usize, usize)> {
        let (length, limit) = match self {
            Self::Postgres | Self::AuroraPostgresql => {
                (username.len(), POSTGRES_MAX_USERNAME_BYTES)
            }
            Self::Mariadb => (username.chars().count(), MARIADB_MAX_USERNAME_CHARS),
            Self::Mysql | Self::AuroraMysql => (username.chars().count(), mysql_limit),
        };
        if length <= limit {
            Ok(())
        } else {
            Err((length, limit))
        }
    }

    /// What to do about a user name that does not fit, as a sentence.
    pub fn username_hint(self) -> &'static str {
        match self.family() {
            EngineFamily::MySql => {
                "MYSQL_MAX_USER_LENGTH sets the MySQL limit: 32, or 16 before MySQL 5.7.8; \
                 MariaDB allows 80."
            }
            EngineFamily::Postgres => "PostgreSQL counts bytes, not characters.",
        }
    }
}

impl EngineFamily {
    pub fn default_port(self) -> u16 {
        match self {
            Self::Postgres => 5432,
            Self::MySql => 3306,
        }
    }

    /// The product name, for messages.
    pub fn product(self) -> &'static str {
        match self {
            Self::Postgres => "PostgreSQL",
            Self::MySql => "MySQL",
        }
    }

    /// The longest password the family accepts.
    ///
    /// - MySQL refuses a plaintext password longer than 256 bytes (`MAX_PLAINTEXT_LENGTH` in
    ///   `include/crypt_genhash_impl.h`, enforced by caching_sha2_password and
    ///   sha256_password, the default plugins since 8.0); MariaDB shares the family and the
    ///   bound, so a secret can move between them.
    /// - PostgreSQL reads a cleartext password message of up to 65535 bytes
    ///   (`PG_MAX_AUTH_TOKEN_LENGTH`, `src/include/libpq/auth.h`) and SCRAM has no limit of
    ///   its own, so `PASSWORD_LENGTH`'s own maximum (GetRandomPassword's 4096) is the bound.
    pub fn longest_password(self) -> u64 {
        match self {
            Self::MySql => 256,
            Self::Postgres => crate::env::PASSWORD_LENGTH.max,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for (engine, name) in Engine::ALL.into_iter().zip(Engine::NAMES) {
            assert_eq!(engine.name(), name);
            assert_eq!(Engine::parse(name), Some(engine));
        }
        assert_eq!(Engine::parse("oracle"), None);
    }

    #[test]
    fn username_limits_follow_the_engine() {
        let pg = "é".repeat(31) + "_clone"; // 68 bytes, 37 characters
        assert_eq!(Engine::Postgres.username_fits(&pg, 32), Err((68, 63)));
        assert!(Engine::Mariadb.username_fits(&pg, 32).is_ok());
        assert_eq!(Engine::Mysql.username_fits(&pg, 32), Err((37, 32)));
        assert_eq!(Engine::Mysql.username_fits("a_clone", 16), Ok(()));
    }

    #[test]
    fn families_and_ports() {
        assert_eq!(Engine::AuroraPostgresql.default_port(), 5432);
        assert_eq!(Engine::Mariadb.default_port(), 3306);
        assert_eq!(Engine::AuroraMysql.family(), EngineFamily::MySql);
        assert!(EngineFamily::MySql.longest_password() < EngineFamily::Postgres.longest_password());
    }
}
