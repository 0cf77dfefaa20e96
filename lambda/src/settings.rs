//! Which secrets this function acts on, and how: the stack's word, never the secret's.
//!
//! Whoever can write a rotated secret once chose its strategy (a `masterarn` field switched on
//! the master path) and its master (any secret the role could read). Now the stack says both in
//! the settings layer (see [`rotation_contract::settings`]), and every step, preflight and
//! recover is admitted here first, before any value is read or any login is made:
//!
//! - a secret the settings do not list is refused, and so is every configured master secret
//!   (a pending version of a master secret must never reach setSecret);
//! - a secret whose rotation function is another function is refused (compared without a
//!   qualifier, once the invocation has told this function its own ARN);
//! - a `masterarn` in the value that is not the configured master, or any `masterarn` in a
//!   secret configured single user, is refused with what the stack configures.
//!
//! Without a stack (tests, local runs) `ROTATION_SETTINGS=from-secrets` restores the old rule,
//! strategy from the value and any master, and must be chosen explicitly: synth never renders it.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use rotation_contract::settings::{self, FROM_SECRETS, SETTINGS_ENV, SecretSettings, Settings};

use crate::error::RotationError;
use crate::store::unqualified_function_arn;

/// Where the function learns which secrets it rotates.
#[derive(Clone)]
pub enum Source {
    /// The stack's settings file.
    Stack {
        settings: Arc<Settings>,
        /// Each configured master secret, with one secret it is the master of: looked up at
        /// every invocation, so built once when the file is read.
        masters: Arc<BTreeMap<String, String>>,
    },
    /// Each secret's own value (`masterarn`), for runs without a stack.
    FromSecrets,
}

impl std::fmt::Debug for Source {
    // 10,000 secrets are not worth printing in a configuration dump.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Stack { settings, .. } => {
                write!(f, "Stack({} secrets)", settings.secrets.len())
            }
            Self::FromSecrets => f.write_str("FromSecrets"),
        }
    }
}

impl Source {
    /// Reads `ROTATION_SETTINGS` (unset: the settings layer's file).
    pub fn load(value: Option<String>) -> Result<Self, RotationError> {
        let path = match value.as_deref().map(str::trim) {
            Some(FROM_SECRETS) => return Ok(Self::FromSecrets),
            Some(path) if !path.is_empty() => path.to_owned(),
            _ => settings::SETTINGS_PATH.to_owned(),
        };
        Self::read(Path::new(&path)).map(Self::stack)
    }

    /// The source for the stack's `settings`.
    pub fn stack(settings: Settings) -> Self {
        let mut masters = BTreeMap::new();
        for (rotated, secret) in &settings.secrets {
            if let Some(master) = &secret.master_secret_arn {
                masters
                    .entry(master.clone())
                    .or_insert_with(|| rotated.clone());
            }
        }
        Self::Stack {
            settings: Arc::new(settings),
            masters: Arc::new(masters),
        }
    }

    fn read(path: &Path) -> Result<Settings, RotationError> {
        let fail = |problem: String| RotationError::Config {
            var: SETTINGS_ENV,
            problem,
        };
        let text = std::fs::read_to_string(path).map_err(|e| {
            fail(format!(
                "points at `{}`, which cannot be read ({e}); attach the settings layer the \
                 stack renders (synth writes it beside the template), or set \
                 {SETTINGS_ENV}={FROM_SECRETS} to run without a stack",
                path.display()
            ))
        })?;
        Settings::parse(&text).map_err(|problem| {
            fail(format!(
                "points at `{}`, which is not valid settings: {problem}",
                path.display()
            ))
        })
    }

    /// Admits `secret` (its full ARN as Secrets Manager describes it, else the id it was
    /// invoked with) for rotation or an operator action, or says why not. `rotation_function`
    /// is the secret's configured rotation function, `this_function` this function's ARN when
    /// known.
    pub fn admit(
        &self,
        secret: &str,
        arn: Option<&str>,
        rotation_function: Option<&str>,
        this_function: Option<&str>,
    ) -> Result<Admitted<'_>, RotationError> {
        let refuse = |problem: String| RotationError::NotConfigured {
            secret: secret.to_owned(),
            problem,
        };
        if let (Some(configured), Some(this)) = (rotation_function, this_function)
            && unqualified_function_arn(configured) != unqualified_function_arn(this)
        {
            return Err(refuse(format!(
                "its rotation function is `{configured}`, not this function; only the function \
                 that rotates a secret may act on it"
            )));
        }
        let Self::Stack { settings, masters } = self else {
            return Ok(Admitted::FromSecrets);
        };
        let key = arn.unwrap_or(secret);
        if let Some(rotated) = masters.get(key) {
            return Err(refuse(format!(
                "it is the master secret of `{rotated}`; this function never acts on a master \
                 secret (rotate it with its own function, or RDS's managed rotation)"
            )));
        }
        settings
            .secrets
            .get(key)
            .map(Admitted::Configured)
            .ok_or_else(|| {
                refuse(format!(
                    "the stack does not configure `{key}` for this function; add it to the \
                     config's `databases` (with its strategy and master) and deploy the stack"
                ))
            })
    }
}

/// A secret the function may act on.
#[derive(Debug, Clone, Copy)]
pub enum Admitted<'a> {
    /// As the stack configures it.
    Configured(&'a SecretSettings),
    /// As its own value says (no stack).
    FromSecrets,
}

#[cfg(test)]
mod tests {
    use rotation_contract::settings::Strategy;

    use super::*;

    const APP: &str = "arn:aws:secretsmanager:us-east-1:1:secret:app-AbCdEf";
    const MASTER: &str = "arn:aws:secretsmanager:us-east-1:1:secret:master-AbCdEf";
    const FUNCTION: &str = "arn:aws:lambda:us-east-1:1:function:rotator";

    fn stack() -> Source {
        let mut secrets = BTreeMap::new();
        secrets.insert(
            APP.to_owned(),
            SecretSettings::new(Strategy::AlternatingUsers, Some(MASTER.to_owned())),
        );
        Source::stack(Settings::new(secrets))
    }

    #[test]
    fn only_configured_secrets_are_admitted() {
        let source = stack();
        match source.admit(APP, Some(APP), Some(FUNCTION), Some(FUNCTION)) {
            Ok(Admitted::Configured(s)) => assert_eq!(s.master_secret_arn.as_deref(), Some(MASTER)),
            other => panic!("{other:?}"),
        }
        // Invoked by name, described with its ARN.
        assert!(source.admit("app", Some(APP), None, None).is_ok());

        let other = "arn:aws:secretsmanager:us-east-1:1:secret:other-AbCdEf";
        let error = source.admit(other, Some(other), None, None).unwrap_err();
        assert_eq!(error.kind(), "SecretNotConfigured");
        assert!(
            error.to_string().contains("add it to the config"),
            "{error}"
        );

        let error = source.admit(MASTER, Some(MASTER), None, None).unwrap_err();
        assert!(error.to_string().contains("master secret of"), "{error}");
    }

    #[test]
    fn a_secret_another_function_rotates_is_refused_in_every_mode() {
        for source in [stack(), Source::FromSecrets] {
            let error = source
                .admit(
                    APP,
                    Some(APP),
                    Some("arn:aws:lambda:us-east-1:1:function:someone-else"),
                    Some(FUNCTION),
                )
                .unwrap_err();
            assert!(error.to_string().contains("not this function"), "{error}");
            // A qualifier on either side is not another function.
            assert!(
                source
                    .admit(
                        APP,
                        Some(APP),
                        Some(FUNCTION),
                        Some(&format!("{FUNCTION}:live"))
                    )
                    .is_ok()
            );
            // Rotation not configured yet, or this function's ARN not known: nothing to compare.
            assert!(source.admit(APP, Some(APP), None, Some(FUNCTION)).is_ok());
        }
    }

    #[test]
    fn the_settings_file_is_required_unless_running_without_a_stack_is_chosen() {
        let error = Source::load(Some("/nonexistent/settings.json".into())).unwrap_err();
        assert_eq!(error.kind(), "InvalidConfiguration");
        let message = error.to_string();
        assert!(message.contains("ROTATION_SETTINGS") && message.contains("from-secrets"));
        assert!(matches!(
            Source::load(Some("from-secrets".into())),
            Ok(Source::FromSecrets)
        ));

        let dir = std::env::temp_dir().join(format!("settings-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("settings.json");
        std::fs::write(
            &path,
            r#"{"format":1,"secrets":{"x":{"strategy":"alternating-users"}}}"#,
        )
        .unwrap();
        let error = Source::load(Some(path.display().to_string())).unwrap_err();
        assert!(
            error.to_string().contains("names no master_secret_arn"),
            "{error}"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
