//! The per-secret settings: which secrets this function rotates, with which strategy, and
//! which secret holds the master credential of each alternating pair.
//!
//! Whoever can write a rotated secret must not be able to choose how it is rotated: a
//! `masterarn` field in the secret's value once switched on the master path, and any secret
//! the role could read was accepted as the master. So the stack says it, in a place the
//! secret's writer cannot change: a file in a Lambda layer the stack deploys with the function
//! (a layer version is immutable; changing it takes the deployer's rights). Lambda's
//! environment holds 4 KB, a few dozen secrets; a layer holds every size synth renders
//! (10,000 databases are about 2 MB of JSON).
//!
//! `synth` writes the file ([`Settings::to_json`]) into the settings layer zip; the function
//! reads it once per instance from [`SETTINGS_PATH`], or from the path in
//! [`SETTINGS_ENV`]. Per-database settings (what to refresh after a rotation, when the
//! previous user is retired) travel in [`SecretSettings`] the same way. Unknown fields are refused: a function older
//! than the stack that rendered its settings must fail loudly rather than ignore a setting.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// The directory the settings layer zip holds; Lambda mounts layers at `/opt`.
pub const LAYER_DIR: &str = "rotation-settings";
/// The file inside [`LAYER_DIR`].
pub const FILE_NAME: &str = "settings.json";
/// Where the function reads its settings when the settings layer is attached.
pub const SETTINGS_PATH: &str = "/opt/rotation-settings/settings.json";
/// The environment variable that overrides [`SETTINGS_PATH`]: a path, or [`FROM_SECRETS`].
pub const SETTINGS_ENV: &str = "ROTATION_SETTINGS";
/// The value of [`SETTINGS_ENV`] that runs the function without a stack (tests, local runs):
/// any secret is rotated, its strategy read from its own `masterarn`. Never rendered by synth.
pub const FROM_SECRETS: &str = "from-secrets";
/// The version of the file's format this crate reads and writes.
pub const FORMAT: u32 = 1;

/// How a secret is rotated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// The user changes its own password.
    SingleUser,
    /// A master user keeps two users and changes the one not in use.
    AlternatingUsers,
}

impl Strategy {
    pub fn name(self) -> &'static str {
        match self {
            Self::SingleUser => "single-user",
            Self::AlternatingUsers => "alternating-users",
        }
    }
}

/// What the stack says about one rotated secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretSettings {
    pub strategy: Strategy,
    /// The master secret's full ARN, for alternating users (and only then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master_secret_arn: Option<String>,
    /// The applications refreshed once AWSCURRENT has moved (after finishSecret).
    #[serde(default, skip_serializing_if = "AfterRotation::is_empty")]
    pub after_rotation: AfterRotation,
    /// Alternating users only: seconds after finishSecret when the previous user (the one
    /// AWSPREVIOUS names) stops logging in. `None` keeps it working until the next rotation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retire_previous_after_seconds: Option<u64>,
}

impl SecretSettings {
    /// Settings with nothing but the strategy and its master.
    pub fn new(strategy: Strategy, master_secret_arn: Option<String>) -> Self {
        Self {
            strategy,
            master_secret_arn,
            after_rotation: AfterRotation::default(),
            retire_previous_after_seconds: None,
        }
    }
}

/// The applications that read a secret and cache its value: each gets fresh instances once
/// the rotation has moved AWSCURRENT, so none keeps using a password about to stop working.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AfterRotation {
    /// Full ECS service ARNs (`arn:aws:ecs:REGION:ACCOUNT:service/CLUSTER/SERVICE`): each
    /// gets a new deployment (`UpdateService` with `forceNewDeployment`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ecs_services: Vec<String>,
    /// Unqualified Lambda function ARNs: each gets new execution environments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lambda_functions: Vec<String>,
}

impl AfterRotation {
    pub fn is_empty(&self) -> bool {
        self.ecs_services.is_empty() && self.lambda_functions.is_empty()
    }
}

/// The whole file: every secret this function rotates, keyed by its full ARN.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub format: u32,
    /// The full ARN of each rotated secret (with Secrets Manager's six-character suffix).
    pub secrets: BTreeMap<String, SecretSettings>,
}

impl Settings {
    pub fn new(secrets: BTreeMap<String, SecretSettings>) -> Self {
        Self {
            format: FORMAT,
            secrets,
        }
    }

    /// Reads and checks the file's text; the error says what is wrong, for a message that
    /// names the file.
    pub fn parse(text: &str) -> Result<Self, String> {
        let settings: Self = serde_json::from_str(text).map_err(|e| e.to_string())?;
        settings.check()?;
        Ok(settings)
    }

    /// The file's text: one secret per line, in ARN order, so the same stack renders the same
    /// bytes and a change of one database changes one line.
    pub fn to_json(&self) -> String {
        let mut out = format!("{{\"format\":{},\"secrets\":{{", self.format);
        for (i, (arn, secret)) in self.secrets.iter().enumerate() {
            out.push_str(if i == 0 { "\n" } else { ",\n" });
            out.push_str(&serde_json::to_string(arn).expect("a string serializes"));
            out.push(':');
            out.push_str(&serde_json::to_string(secret).expect("settings serialize"));
        }
        out.push_str("\n}}\n");
        out
    }

    /// Every master secret the settings name.
    pub fn masters(&self) -> BTreeSet<&str> {
        self.secrets
            .values()
            .filter_map(|s| s.master_secret_arn.as_deref())
            .collect()
    }

    /// Refuses settings the function could not act on safely: another format, an
    /// alternating secret without a master (or a single-user one with one), a master that is
    /// itself rotated here.
    pub fn check(&self) -> Result<(), String> {
        if self.format != FORMAT {
            return Err(format!(
                "format {} is not the format {FORMAT} this function reads; deploy the function \
                 and the stack rendered by the same version",
                self.format
            ));
        }
        for (arn, secret) in &self.secrets {
            match (secret.strategy, &secret.master_secret_arn) {
                (Strategy::AlternatingUsers, None) => {
                    return Err(format!(
                        "secret `{arn}` is alternating-users but names no master_secret_arn"
                    ));
                }
                (Strategy::SingleUser, Some(_)) => {
                    return Err(format!(
                        "secret `{arn}` is single-user but names a master_secret_arn"
                    ));
                }
                _ => {}
            }
            if secret.strategy == Strategy::SingleUser
                && secret.retire_previous_after_seconds.is_some()
            {
                return Err(format!(
                    "secret `{arn}` is single-user but names retire_previous_after_seconds \
                     (a single user's previous password stops working at setSecret)"
                ));
            }
        }
        if let Some(both) = self
            .masters()
            .into_iter()
            .find(|m| self.secrets.contains_key(*m))
        {
            return Err(format!(
                "secret `{both}` is both rotated and the master of another secret"
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Settings {
        let mut secrets = BTreeMap::new();
        secrets.insert(
            "arn:aws:secretsmanager:eu-west-1:1:secret:b-AbCdEf".into(),
            SecretSettings {
                after_rotation: AfterRotation {
                    ecs_services: vec!["arn:aws:ecs:eu-west-1:1:service/c/s".into()],
                    lambda_functions: vec!["arn:aws:lambda:eu-west-1:1:function:f".into()],
                },
                retire_previous_after_seconds: Some(86_400),
                ..SecretSettings::new(
                    Strategy::AlternatingUsers,
                    Some("arn:aws:secretsmanager:eu-west-1:1:secret:m-AbCdEf".into()),
                )
            },
        );
        secrets.insert(
            "arn:aws:secretsmanager:eu-west-1:1:secret:a-AbCdEf".into(),
            SecretSettings::new(Strategy::SingleUser, None),
        );
        Settings::new(secrets)
    }

    #[test]
    fn the_file_round_trips_one_secret_a_line_in_order() {
        let settings = sample();
        let text = settings.to_json();
        assert_eq!(Settings::parse(&text).unwrap(), settings);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert!(lines[1].contains(":a-AbCdEf") && lines[1].contains("single-user"));
        assert!(lines[2].contains(":b-AbCdEf") && lines[2].contains("\"master_secret_arn\""));
        assert!(lines[2].contains("\"retire_previous_after_seconds\":86400"));
        assert!(!lines[1].contains("after_rotation") && !lines[1].contains("retire"));
        assert_eq!(
            Settings::new(BTreeMap::new()).to_json(),
            "{\"format\":1,\"secrets\":{\n}}\n"
        );
        assert!(Settings::parse(&Settings::new(BTreeMap::new()).to_json()).is_ok());
    }

    #[test]
    fn settings_that_cannot_be_acted_on_are_refused() {
        let mut wrong = sample();
        wrong.format = 2;
        assert!(wrong.check().unwrap_err().contains("format 2"));

        let mut wrong = sample();
        wrong
            .secrets
            .values_mut()
            .for_each(|s| s.master_secret_arn = None);
        assert!(
            wrong
                .check()
                .unwrap_err()
                .contains("names no master_secret_arn")
        );

        let mut wrong = sample();
        wrong.secrets.values_mut().for_each(|s| {
            s.master_secret_arn = Some("arn:aws:secretsmanager:eu-west-1:1:secret:m-AbCdEf".into())
        });
        assert!(wrong.check().unwrap_err().contains("is single-user but"));

        let mut wrong = sample();
        wrong.secrets.values_mut().for_each(|s| {
            s.strategy = Strategy::SingleUser;
            s.master_secret_arn = None;
            s.retire_previous_after_seconds = Some(60);
        });
        assert!(
            wrong
                .check()
                .unwrap_err()
                .contains("retire_previous_after_seconds")
        );

        let mut wrong = sample();
        wrong.secrets.insert(
            "arn:aws:secretsmanager:eu-west-1:1:secret:m-AbCdEf".into(),
            SecretSettings::new(Strategy::SingleUser, None),
        );
        assert!(
            wrong
                .check()
                .unwrap_err()
                .contains("both rotated and the master")
        );
    }

    #[test]
    fn unknown_fields_are_refused_not_ignored() {
        let text = r#"{"format":1,"secrets":{"arn:x":{"strategy":"single-user","retire":"1h"}}}"#;
        assert!(Settings::parse(text).unwrap_err().contains("retire"));
        let text = r#"{"format":1,"secrets":{"arn:x":{"strategy":"single-user","after_rotation":{"ecs":[]}}}}"#;
        assert!(Settings::parse(text).unwrap_err().contains("retire"));
        let text = r#"{"format":1,"secrets":{},"extra":true}"#;
        assert!(Settings::parse(text).unwrap_err().contains("extra"));
    }
}
