//! The function's environment: every variable the stack may set, its default and the values
//! the function accepts.
//!
//! The password options keep the names AWS's own rotation templates use, so a stack that moves
//! from those templates keeps its settings. The function parses each value with the same
//! definition the stack validated it with: a value one accepts, the other cannot refuse.

use crate::engine::EngineFamily;

/// A whole number within a range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Integer {
    pub name: &'static str,
    pub default: u64,
    pub min: u64,
    pub max: u64,
    /// What the number means, for the fix in an error message.
    pub unit: &'static str,
}

impl Integer {
    pub fn accepts(&self, value: u64) -> bool {
        (self.min..=self.max).contains(&value)
    }

    /// Reads a value; the error says what is accepted (after the variable's name).
    pub fn parse(&self, value: &str) -> Result<u64, String> {
        value
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|n| self.accepts(*n))
            .ok_or_else(|| format!("is `{value}`; {}", self.accepted()))
    }

    /// The accepted values, as a fix.
    pub fn accepted(&self) -> String {
        format!(
            "use a whole number{} from {} to {} (default {})",
            self.unit, self.min, self.max, self.default
        )
    }
}

/// A yes-or-no switch, off unless set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flag {
    pub name: &'static str,
}

impl Flag {
    /// The truthy spellings AWS's templates accept, and their falsy counterparts.
    pub fn parse(&self, value: &str) -> Result<bool, String> {
        match value.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "y" | "yes" => Ok(true),
            "false" | "0" | "n" | "no" => Ok(false),
            _ => Err(format!(
                "is `{value}`; use true/1/y/yes to turn it on or false/0/n/no to leave it off"
            )),
        }
    }

    /// How the stack writes a value.
    pub fn render(value: bool) -> &'static str {
        if value { "true" } else { "false" }
    }
}

/// A value the stack writes as one of a few words: each choice is an enum, so a new word is a
/// new variant every `match` on it must handle, never a string a `_ =>` arm maps silently.
pub trait Word: Copy + PartialEq + 'static {
    /// Every value, in the order the fix lists them.
    const ALL: &'static [Self];
    /// How the stack writes it.
    fn word(self) -> &'static str;
}

/// One of a few words, read into `T`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Choice<T: Word> {
    pub name: &'static str,
    pub default: T,
}

impl<T: Word> Choice<T> {
    /// Every accepted word.
    pub fn words(&self) -> impl Iterator<Item = &'static str> {
        T::ALL.iter().map(|v| v.word())
    }

    pub fn parse(&self, value: &str) -> Result<T, String> {
        let value = value.trim();
        T::ALL
            .iter()
            .find(|v| v.word() == value)
            .copied()
            .ok_or_else(|| {
                let others: Vec<String> = T::ALL
                    .iter()
                    .filter(|v| **v != self.default)
                    .map(|v| format!("`{}`", v.word()))
                    .collect();
                format!(
                    "is `{value}`; use `{}` (the default) or {}",
                    self.default.word(),
                    others.join(" or ")
                )
            })
    }
}

/// `DB_TLS`: how a secret without an `ssl` field connects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbTls {
    /// TLS, the chain verified against the CA bundle and the host name checked.
    VerifyFull,
    /// Plaintext: only when chosen explicitly.
    Disabled,
}

impl Word for DbTls {
    const ALL: &'static [Self] = &[Self::VerifyFull, Self::Disabled];
    fn word(self) -> &'static str {
        match self {
            Self::VerifyFull => "verify-full",
            Self::Disabled => "disabled",
        }
    }
}

/// `ROTATION_STRATEGY`: which kinds of secret the function rotates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RotationStrategy {
    /// Either, as each secret is configured.
    Auto,
    SingleUser,
    AlternatingUsers,
}

impl Word for RotationStrategy {
    const ALL: &'static [Self] = &[Self::Auto, Self::SingleUser, Self::AlternatingUsers];
    fn word(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::SingleUser => "single-user",
            Self::AlternatingUsers => "alternating-users",
        }
    }
}

pub const PASSWORD_LENGTH: Integer = Integer {
    name: "PASSWORD_LENGTH",
    default: 32,
    // 4096 is GetRandomPassword's own limit; each engine may accept less
    // (`EngineFamily::longest_password`).
    min: 8,
    max: 4096,
    unit: " of characters",
};

/// Characters never used. Unset, the engine's default applies
/// ([`default_exclude_characters`]); set, even to the empty string (exclude nothing), it
/// replaces the default, as in AWS's templates.
pub const EXCLUDE_CHARACTERS: &str = "EXCLUDE_CHARACTERS";

pub const EXCLUDE_NUMBERS: Flag = Flag {
    name: "EXCLUDE_NUMBERS",
};
pub const EXCLUDE_PUNCTUATION: Flag = Flag {
    name: "EXCLUDE_PUNCTUATION",
};
pub const EXCLUDE_UPPERCASE: Flag = Flag {
    name: "EXCLUDE_UPPERCASE",
};
pub const EXCLUDE_LOWERCASE: Flag = Flag {
    name: "EXCLUDE_LOWERCASE",
};
pub const REQUIRE_EACH_INCLUDED_TYPE: Flag = Flag {
    name: "REQUIRE_EACH_INCLUDED_TYPE",
};

/// Whether connections use verified TLS when the secret has no `ssl` field.
pub const DB_TLS: Choice<DbTls> = Choice {
    name: "DB_TLS",
    default: DbTls::VerifyFull,
};

/// The PEM bundle that verifies the database; [`crate::CA_BUNDLE_PATH`] unless set.
pub const DB_CA_BUNDLE: &str = "DB_CA_BUNDLE";

/// Which kinds of secret the function rotates: `auto` takes each as configured.
pub const ROTATION_STRATEGY: Choice<RotationStrategy> = Choice {
    name: "ROTATION_STRATEGY",
    default: RotationStrategy::Auto,
};

/// The longest MySQL user name the server accepts: 32 since MySQL 5.7.8, 16 before; 80 covers
/// MariaDB. Clone names (`name_clone`) must fit.
pub const MYSQL_MAX_USER_LENGTH: Integer = Integer {
    name: "MYSQL_MAX_USER_LENGTH",
    default: crate::engine::MYSQL_MAX_USERNAME_CHARS as u64,
    min: 16,
    max: crate::engine::MARIADB_MAX_USERNAME_CHARS as u64,
    unit: " of characters (32: MySQL 5.7.8 and later; 16: older MySQL; 80: MariaDB)",
};

/// The bound on each database statement and lock wait. Well inside Lambda's timeout (60 s in
/// the rendered stack); a step runs a handful of statements, and all of them must fit in
/// Lambda's longest timeout (900 s).
pub const DB_STATEMENT_TIMEOUT: Integer = Integer {
    name: "DB_STATEMENT_TIMEOUT",
    default: 10,
    min: 1,
    max: 120,
    unit: " of seconds",
};

/// An endpoint override for Secrets Manager (a VPC endpoint, or a local server in tests).
pub const SECRETS_MANAGER_ENDPOINT: &str = "SECRETS_MANAGER_ENDPOINT";

/// An endpoint override for the RDS API (an `rds` VPC endpoint), read by the AWS SDK itself:
/// the stack sets it when it creates such an endpoint for RDS-managed master secrets.
pub const RDS_ENDPOINT: &str = "AWS_ENDPOINT_URL_RDS";

/// Whether the stack opened the function a route to the RDS API (`network.rds_endpoint`): set
/// to `true` only then. Without it the function's security group lets no call to the RDS API
/// out, and the preflight does not wait for one (its RDS Proxy check says "not checked").
pub const RDS_API_ROUTE: Flag = Flag {
    name: "RDS_API_ROUTE",
};

/// An endpoint override for the ECS API (an `ecs` VPC endpoint), read by the AWS SDK itself:
/// the stack sets it when it creates such an endpoint for the services `after_rotation` lists.
pub const ECS_ENDPOINT: &str = "AWS_ENDPOINT_URL_ECS";

/// An endpoint override for the Lambda API (a `lambda` VPC endpoint), read by the AWS SDK
/// itself: the stack sets it when it creates such an endpoint for the functions
/// `after_rotation` lists.
pub const LAMBDA_ENDPOINT: &str = "AWS_ENDPOINT_URL_LAMBDA";

/// Every variable the stack may set for the function (besides Lambda's own).
pub const NAMES: [&str; 17] = [
    PASSWORD_LENGTH.name,
    EXCLUDE_CHARACTERS,
    EXCLUDE_NUMBERS.name,
    EXCLUDE_PUNCTUATION.name,
    EXCLUDE_UPPERCASE.name,
    EXCLUDE_LOWERCASE.name,
    REQUIRE_EACH_INCLUDED_TYPE.name,
    DB_TLS.name,
    DB_CA_BUNDLE,
    ROTATION_STRATEGY.name,
    MYSQL_MAX_USER_LENGTH.name,
    DB_STATEMENT_TIMEOUT.name,
    SECRETS_MANAGER_ENDPOINT,
    RDS_ENDPOINT,
    RDS_API_ROUTE.name,
    ECS_ENDPOINT,
    LAMBDA_ENDPOINT,
];

/// The characters left out of passwords when `EXCLUDE_CHARACTERS` is unset: they break
/// connection strings, shells and config files that applications put the password in;
/// PostgreSQL adds `:`, the field separator of `.pgpass` files.
pub fn default_exclude_characters(family: EngineFamily) -> &'static str {
    match family {
        EngineFamily::Postgres => "/@\"'\\:",
        EngineFamily::MySql => "/@\"'\\",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_name_their_range() {
        assert_eq!(PASSWORD_LENGTH.parse(" 64 "), Ok(64));
        let problem = PASSWORD_LENGTH.parse("4").unwrap_err();
        assert!(problem.contains("8 to 4096"), "{problem}");
        assert!(DB_STATEMENT_TIMEOUT.parse("10s").is_err());
        assert!(MYSQL_MAX_USER_LENGTH.accepts(16) && !MYSQL_MAX_USER_LENGTH.accepts(15));
    }

    #[test]
    fn flags_accept_the_template_spellings() {
        for yes in ["true", "TRUE", "1", "y", "Yes"] {
            assert_eq!(EXCLUDE_NUMBERS.parse(yes), Ok(true));
        }
        for no in ["false", "0", "n", "NO"] {
            assert_eq!(EXCLUDE_NUMBERS.parse(no), Ok(false));
        }
        assert!(EXCLUDE_NUMBERS.parse("maybe").is_err());
        assert_eq!(Flag::render(true), "true");
    }

    #[test]
    fn choices_list_the_others() {
        assert_eq!(DB_TLS.parse("disabled"), Ok(DbTls::Disabled));
        assert_eq!(
            ROTATION_STRATEGY.parse(" single-user "),
            Ok(RotationStrategy::SingleUser)
        );
        // Every word parses back to its value.
        for value in RotationStrategy::ALL {
            assert_eq!(ROTATION_STRATEGY.parse(value.word()), Ok(*value));
        }
        assert_eq!(
            DB_TLS.words().collect::<Vec<_>>(),
            ["verify-full", "disabled"]
        );
        let problem = ROTATION_STRATEGY.parse("both").unwrap_err();
        assert!(
            problem.contains("`auto` (the default)") && problem.contains("`alternating-users`"),
            "{problem}"
        );
    }

    #[test]
    fn names_are_unique() {
        let mut names = NAMES.to_vec();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), NAMES.len());
    }
}
