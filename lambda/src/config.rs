//! The function's settings, read once at start from its environment.
//!
//! The password options keep the names AWS's own rotation templates use, so a stack that moves
//! from those templates to this function keeps its settings. Every value is checked here, so a
//! typo fails the first invocation with the variable's name instead of weakening a password.

use std::path::PathBuf;
use std::time::Duration;

use rotation_contract::env;

use crate::error::RotationError;
use crate::password::PasswordPolicy;
use crate::secret::Tls;
use crate::settings::Source;

/// Where the function's CA bundle is when the driver layer is attached.
pub const DEFAULT_CA_BUNDLE: &str = rotation_contract::CA_BUNDLE_PATH;

/// How long a database connection may take before the step gives up.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

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
    /// The TLS setting of a secret without an `ssl` field.
    pub tls: Tls,
    pub ca_bundle: PathBuf,
    pub strategy: StrategySetting,
    /// Which secrets the function rotates, with which strategy and master: the stack's
    /// settings layer, or (explicitly, without a stack) each secret's own value.
    pub settings: Source,
    /// Endpoint override for Secrets Manager (a VPC endpoint, or a local server in tests).
    pub secrets_manager_endpoint: Option<String>,
    /// Longest MySQL user name the server accepts (32 since MySQL 5.7.8; 16 before).
    pub mysql_max_user_length: usize,
    pub connect_timeout: Duration,
    /// The bound on each statement and on each lock wait, enforced by the server and, as a
    /// backstop, by the function.
    pub statement_timeout: Duration,
    /// The stack opened a route to the RDS API (`RDS_API_ROUTE`): the preflight asks it which
    /// RDS Proxies use the secret. Without one, a call could only wait for its timeout.
    pub rds_api_route: bool,
}

impl Config {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, RotationError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup`, so tests need not touch the environment. Every
    /// variable is read with its definition in the contract the stack validated it with.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, RotationError> {
        let get = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
        let fail =
            |var: &'static str| move |problem: String| RotationError::Config { var, problem };
        let integer = |var: env::Integer| -> Result<u64, RotationError> {
            get(var.name).map_or(Ok(var.default), |value| {
                var.parse(&value).map_err(fail(var.name))
            })
        };
        let flag = |var: env::Flag| -> Result<bool, RotationError> {
            get(var.name).map_or(Ok(false), |value| var.parse(&value).map_err(fail(var.name)))
        };
        fn choice<T: env::Word>(
            value: Option<String>,
            var: env::Choice<T>,
        ) -> Result<T, RotationError> {
            value.map_or(Ok(var.default), |value| {
                var.parse(&value).map_err(|problem| RotationError::Config {
                    var: var.name,
                    problem,
                })
            })
        }

        let password = PasswordPolicy {
            length: integer(env::PASSWORD_LENGTH)? as usize,
            // As in AWS's templates: unset means the engine's default; set, even to the empty
            // string (exclude nothing), it replaces the default.
            exclude_characters: lookup(env::EXCLUDE_CHARACTERS),
            exclude_numbers: flag(env::EXCLUDE_NUMBERS)?,
            exclude_punctuation: flag(env::EXCLUDE_PUNCTUATION)?,
            exclude_uppercase: flag(env::EXCLUDE_UPPERCASE)?,
            exclude_lowercase: flag(env::EXCLUDE_LOWERCASE)?,
            require_each_included_type: flag(env::REQUIRE_EACH_INCLUDED_TYPE)?,
        };
        password.check()?;

        let tls = match choice(get(env::DB_TLS.name), env::DB_TLS)? {
            env::DbTls::Disabled => Tls::Disabled,
            env::DbTls::VerifyFull => Tls::VerifyFull,
        };
        let strategy = match choice(get(env::ROTATION_STRATEGY.name), env::ROTATION_STRATEGY)? {
            env::RotationStrategy::SingleUser => StrategySetting::SingleUser,
            env::RotationStrategy::AlternatingUsers => StrategySetting::AlternatingUsers,
            env::RotationStrategy::Auto => StrategySetting::Auto,
        };
        Ok(Self {
            password,
            tls,
            ca_bundle: get(env::DB_CA_BUNDLE)
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(DEFAULT_CA_BUNDLE)),
            strategy,
            settings: Source::load(lookup(rotation_contract::settings::SETTINGS_ENV))?,
            secrets_manager_endpoint: get(env::SECRETS_MANAGER_ENDPOINT),
            mysql_max_user_length: integer(env::MYSQL_MAX_USER_LENGTH)? as usize,
            connect_timeout: CONNECT_TIMEOUT,
            statement_timeout: Duration::from_secs(integer(env::DB_STATEMENT_TIMEOUT)?),
            rds_api_route: flag(env::RDS_API_ROUTE)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, RotationError> {
        let mut vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        vars.entry("ROTATION_SETTINGS".into())
            .or_insert_with(|| "from-secrets".into());
        Config::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn defaults_are_safe() {
        let config = config(&[]).unwrap();
        assert_eq!(config.password.length, 32);
        assert_eq!(config.tls, Tls::VerifyFull);
        assert_eq!(config.strategy, StrategySetting::Auto);
        assert_eq!(config.ca_bundle, PathBuf::from(DEFAULT_CA_BUNDLE));
        assert_eq!(config.mysql_max_user_length, 32);
        assert!(config.password.exclude_characters.is_none());
        assert!(
            !config.rds_api_route,
            "no route to the RDS API unless the stack says so"
        );
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
            ("MYSQL_MAX_USER_LENGTH", "15", "16 to 80"),
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
            Tls::Disabled
        );
    }
}
