//! The function's settings, read once at start from its environment.
//!
//! The password options keep the names AWS's own rotation templates use, so a stack that moves
//! from those templates to this function keeps its settings. Every value is checked here, so a
//! typo fails the first invocation with the variable's name instead of weakening a password.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::RotationError;
use crate::password::PasswordPolicy;

/// Where the function's CA bundle is when the driver layer is attached.
pub const DEFAULT_CA_BUNDLE: &str = "/opt/rds-ca/global-bundle.pem";

/// How long a database connection may take before the step gives up.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long one database statement may run or wait for a lock, unless `DB_STATEMENT_TIMEOUT`
/// says otherwise. Well inside Lambda's timeout (60 s in the rendered stack), so a lock held by
/// a backup or a long transaction fails the step with a message instead of a silent timeout.
pub const DEFAULT_STATEMENT_TIMEOUT_SECONDS: u64 = 10;
/// The longest `DB_STATEMENT_TIMEOUT` accepted: a step runs a handful of statements, and all of
/// them must fit in Lambda's longest timeout (900 s).
pub const MAX_STATEMENT_TIMEOUT_SECONDS: u64 = 120;

/// Whether connections use TLS when the secret does not say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsDefault {
    /// TLS with the certificate chain and host name verified.
    VerifyFull,
    /// Plaintext, chosen explicitly with `DB_TLS=disabled`.
    Disabled,
}

/// Which rotation strategies this function accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StrategySetting {
    /// Chosen per secret: alternating users when it names `masterarn`, else single user.
    Auto,
    SingleUser,
    AlternatingUsers,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub password: PasswordPolicy,
    pub tls: TlsDefault,
    pub ca_bundle: PathBuf,
    pub strategy: StrategySetting,
    /// Endpoint override for Secrets Manager (a VPC endpoint, or a local server in tests).
    pub secrets_manager_endpoint: Option<String>,
    /// Longest MySQL user name the server accepts (32 since MySQL 5.7.8; 16 before).
    pub mysql_max_user_length: usize,
    pub connect_timeout: Duration,
    /// The bound on each statement and on each lock wait, enforced by the server and, as a
    /// backstop, by the function.
    pub statement_timeout: Duration,
}

impl Config {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, RotationError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup`, so tests need not touch the environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, RotationError> {
        let get = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
        let flag = |name: &'static str| -> Result<bool, RotationError> {
            match get(name) {
                None => Ok(false),
                Some(value) => parse_flag(&value).ok_or_else(|| RotationError::Config {
                    var: name,
                    problem: format!(
                        "is `{value}`; use true/1/y/yes to turn it on or false/0/n/no to leave it off"
                    ),
                }),
            }
        };
        let length = match get("PASSWORD_LENGTH") {
            None => 32,
            Some(value) => value
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|n| (PasswordPolicy::MIN_LENGTH..=PasswordPolicy::MAX_LENGTH).contains(n))
                .ok_or_else(|| RotationError::Config {
                    var: "PASSWORD_LENGTH",
                    problem: format!(
                        "is `{value}`; use a whole number from {} to {}",
                        PasswordPolicy::MIN_LENGTH,
                        PasswordPolicy::MAX_LENGTH
                    ),
                })?,
        };
        let password = PasswordPolicy {
            length,
            // As in AWS's templates: unset means the engine's default; set, even to the empty
            // string (exclude nothing), it replaces the default.
            exclude_characters: lookup("EXCLUDE_CHARACTERS"),
            exclude_numbers: flag("EXCLUDE_NUMBERS")?,
            exclude_punctuation: flag("EXCLUDE_PUNCTUATION")?,
            exclude_uppercase: flag("EXCLUDE_UPPERCASE")?,
            exclude_lowercase: flag("EXCLUDE_LOWERCASE")?,
            require_each_included_type: flag("REQUIRE_EACH_INCLUDED_TYPE")?,
        };
        password.check()?;

        let tls = match get("DB_TLS").as_deref().map(str::trim) {
            None | Some("verify-full") => TlsDefault::VerifyFull,
            Some("disabled") => TlsDefault::Disabled,
            Some(other) => {
                return Err(RotationError::Config {
                    var: "DB_TLS",
                    problem: format!(
                        "is `{other}`; use `verify-full` (the default) or `disabled` for plaintext"
                    ),
                });
            }
        };
        let strategy = match get("ROTATION_STRATEGY").as_deref().map(str::trim) {
            None | Some("auto") => StrategySetting::Auto,
            Some("single-user") => StrategySetting::SingleUser,
            Some("alternating-users") => StrategySetting::AlternatingUsers,
            Some(other) => {
                return Err(RotationError::Config {
                    var: "ROTATION_STRATEGY",
                    problem: format!(
                        "is `{other}`; use `auto` (the default), `single-user` or `alternating-users`"
                    ),
                });
            }
        };
        let mysql_max_user_length = match get("MYSQL_MAX_USER_LENGTH") {
            None => 32,
            Some(value) => value
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=80).contains(n))
                .ok_or_else(|| RotationError::Config {
                    var: "MYSQL_MAX_USER_LENGTH",
                    problem: format!(
                        "is `{value}`; use 32 (MySQL 5.7.8 and later), 16 (older MySQL) or 80 (MariaDB)"
                    ),
                })?,
        };
        let statement_timeout = match get("DB_STATEMENT_TIMEOUT") {
            None => DEFAULT_STATEMENT_TIMEOUT_SECONDS,
            Some(value) => value
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|n| (1..=MAX_STATEMENT_TIMEOUT_SECONDS).contains(n))
                .ok_or_else(|| RotationError::Config {
                    var: "DB_STATEMENT_TIMEOUT",
                    problem: format!(
                        "is `{value}`; use a whole number of seconds from 1 to \
                         {MAX_STATEMENT_TIMEOUT_SECONDS} (default \
                         {DEFAULT_STATEMENT_TIMEOUT_SECONDS})"
                    ),
                })?,
        };
        Ok(Self {
            password,
            tls,
            ca_bundle: get("DB_CA_BUNDLE")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(DEFAULT_CA_BUNDLE)),
            strategy,
            secrets_manager_endpoint: get("SECRETS_MANAGER_ENDPOINT"),
            mysql_max_user_length,
            connect_timeout: CONNECT_TIMEOUT,
            statement_timeout: Duration::from_secs(statement_timeout),
        })
    }
}

/// The truthy spellings AWS's templates accept, and their falsy counterparts.
fn parse_flag(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "y" | "yes" => Some(true),
        "false" | "0" | "n" | "no" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, RotationError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn defaults_are_safe() {
        let config = config(&[]).unwrap();
        assert_eq!(config.password.length, 32);
        assert_eq!(config.tls, TlsDefault::VerifyFull);
        assert_eq!(config.strategy, StrategySetting::Auto);
        assert_eq!(config.ca_bundle, PathBuf::from(DEFAULT_CA_BUNDLE));
        assert_eq!(config.mysql_max_user_length, 32);
        assert!(config.password.exclude_characters.is_none());
    }

    #[test]
    fn flags_accept_the_template_spellings() {
        for yes in ["true", "TRUE", "1", "y", "Yes"] {
            assert!(
                config(&[("EXCLUDE_NUMBERS", yes)])
                    .unwrap()
                    .password
                    .exclude_numbers
            );
        }
        for no in ["false", "0", "n", "NO"] {
            assert!(
                !config(&[("EXCLUDE_NUMBERS", no)])
                    .unwrap()
                    .password
                    .exclude_numbers
            );
        }
    }

    #[test]
    fn bad_values_name_the_variable_and_the_fix() {
        let cases = [
            ("EXCLUDE_PUNCTUATION", "maybe", "true/1/y/yes"),
            ("PASSWORD_LENGTH", "abc", "whole number"),
            ("PASSWORD_LENGTH", "4", "whole number"),
            ("DB_TLS", "prefer", "verify-full"),
            ("ROTATION_STRATEGY", "both", "alternating-users"),
            ("MYSQL_MAX_USER_LENGTH", "0", "32"),
            ("DB_STATEMENT_TIMEOUT", "0", "seconds from 1"),
            ("DB_STATEMENT_TIMEOUT", "10s", "seconds from 1"),
        ];
        for (var, value, fix) in cases {
            let error = config(&[(var, value)]).unwrap_err();
            assert_eq!(error.kind(), "InvalidConfiguration");
            let message = error.to_string();
            assert!(message.contains(var) && message.contains(fix), "{message}");
        }
    }

    #[test]
    fn excluding_every_character_is_refused() {
        let error = config(&[
            ("EXCLUDE_NUMBERS", "true"),
            ("EXCLUDE_PUNCTUATION", "true"),
            ("EXCLUDE_UPPERCASE", "true"),
            ("EXCLUDE_LOWERCASE", "true"),
        ])
        .unwrap_err();
        assert!(error.to_string().contains("no character left"), "{error}");
    }

    #[test]
    fn empty_exclude_characters_excludes_nothing() {
        assert_eq!(config(&[]).unwrap().password.exclude_characters, None);
        assert_eq!(
            config(&[("EXCLUDE_CHARACTERS", "")])
                .unwrap()
                .password
                .exclude_characters
                .as_deref(),
            Some("")
        );
    }

    #[test]
    fn tls_can_be_disabled_explicitly() {
        assert_eq!(
            config(&[("DB_TLS", "disabled")]).unwrap().tls,
            TlsDefault::Disabled
        );
    }
}
