//! The events the function answers: the one Secrets Manager sends for each rotation step, and
//! the operator actions (`{"Action": "preflight" | "recover" | "audit" | "adopt-partner" |
//! "drift-check", ...}`)
//! a person or the stack's schedule sends.
//!
//! Events are parsed from raw JSON here rather than by the runtime so that a malformed event
//! fails with this function's own error kind and a message listing what is allowed.

use rotation_contract::report::action;
use serde::Deserialize;

use crate::error::RotationError;

/// One of the four steps of a rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Create,
    Set,
    Test,
    Finish,
}

impl Step {
    /// The step names exactly as Secrets Manager sends them.
    pub const NAMES: [&'static str; 4] = rotation_contract::metrics::STEPS;

    pub fn parse(name: &str) -> Result<Self, RotationError> {
        match name {
            "createSecret" => Ok(Self::Create),
            "setSecret" => Ok(Self::Set),
            "testSecret" => Ok(Self::Test),
            "finishSecret" => Ok(Self::Finish),
            other => Err(RotationError::InvalidEvent(format!(
                "`Step` is `{other}`; it must be one of {}",
                Self::NAMES.map(|n| format!("`{n}`")).join(", ")
            ))),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Create => "createSecret",
            Self::Set => "setSecret",
            Self::Test => "testSecret",
            Self::Finish => "finishSecret",
        }
    }
}

/// A rotation request: which secret, which version, which step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationEvent {
    pub secret_id: String,
    pub token: String,
    pub step: Step,
    /// Present when Secrets Manager wants it passed back to PutSecretValue.
    pub rotation_token: Option<String>,
}

#[derive(Deserialize)]
struct RawEvent {
    #[serde(rename = "SecretId")]
    secret_id: Option<String>,
    #[serde(rename = "ClientRequestToken")]
    token: Option<String>,
    #[serde(rename = "Step")]
    step: Option<String>,
    #[serde(rename = "RotationToken")]
    rotation_token: Option<String>,
}

impl RotationEvent {
    pub fn from_json(value: serde_json::Value) -> Result<Self, RotationError> {
        let raw: RawEvent = serde_json::from_value(value).map_err(|e| {
            RotationError::InvalidEvent(format!(
                "{e}; expected an object with string fields `SecretId`, `ClientRequestToken`, `Step`"
            ))
        })?;
        let required = |value: Option<String>, name: &str| {
            value
                .filter(|v| !v.is_empty())
                .ok_or_else(|| RotationError::InvalidEvent(format!("`{name}` is missing or empty")))
        };
        Ok(Self {
            secret_id: required(raw.secret_id, "SecretId")?,
            token: required(raw.token, "ClientRequestToken")?,
            step: Step::parse(&required(raw.step, "Step")?)?,
            rotation_token: raw.rotation_token.filter(|t| !t.is_empty()),
        })
    }
}

/// Anything the function can be invoked with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invocation {
    /// A rotation step, from Secrets Manager.
    Rotation(RotationEvent),
    /// Read-only checks of everything a rotation of the secret needs.
    Preflight { secret_id: String },
    /// The versions of a stuck secret, which log in, and the one safe action (taken when
    /// `apply`).
    Recover { secret_id: String, apply: bool },
    /// Every secret this function rotates, checked for an overdue rotation.
    Audit,
    /// Records the existing partner of an alternating-users secret as the function's own.
    AdoptPartner { secret_id: String },
    /// Preflight's read-only checks on every secret the stack configures (scheduled).
    DriftCheck,
}

impl Invocation {
    /// The action names an operator event may carry.
    pub const ACTIONS: [&'static str; 5] = [
        action::PREFLIGHT,
        action::RECOVER,
        action::AUDIT,
        action::ADOPT_PARTNER,
        action::DRIFT_CHECK,
    ];

    pub fn from_json(value: serde_json::Value) -> Result<Self, RotationError> {
        let Some(action) = value.get("Action") else {
            return RotationEvent::from_json(value).map(Self::Rotation);
        };
        if value.get("Step").is_some() {
            return Err(RotationError::InvalidEvent(
                "the event has both `Action` and `Step`; send a rotation step or an operator \
                 action, not both"
                    .into(),
            ));
        }
        let action = action
            .as_str()
            .ok_or_else(|| RotationError::InvalidEvent("`Action` must be a string".into()))?;
        let secret_id = || {
            value
                .get("SecretId")
                .and_then(|v| v.as_str())
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
                .ok_or_else(|| {
                    RotationError::InvalidEvent(format!(
                        "`{action}` needs `SecretId`: the secret's ARN or name"
                    ))
                })
        };
        match action {
            action::PREFLIGHT => Ok(Self::Preflight {
                secret_id: secret_id()?,
            }),
            action::RECOVER => {
                let apply = match value.get("Apply") {
                    None | Some(serde_json::Value::Null) => false,
                    Some(serde_json::Value::Bool(apply)) => *apply,
                    Some(_) => {
                        return Err(RotationError::InvalidEvent(
                            "`Apply` must be true or false".into(),
                        ));
                    }
                };
                Ok(Self::Recover {
                    secret_id: secret_id()?,
                    apply,
                })
            }
            action::AUDIT => Ok(Self::Audit),
            action::DRIFT_CHECK => Ok(Self::DriftCheck),
            action::ADOPT_PARTNER => Ok(Self::AdoptPartner {
                secret_id: secret_id()?,
            }),
            other => Err(RotationError::InvalidEvent(format!(
                "`Action` is `{other}`; it must be one of {}",
                Self::ACTIONS.map(|n| format!("`{n}`")).join(", ")
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(text: &str) -> Result<RotationEvent, RotationError> {
        RotationEvent::from_json(serde_json::from_str(text).unwrap())
    }

    #[test]
    fn parses_every_fixture() {
        let create = fixture(include_str!("../tests/fixtures/create-secret.json")).unwrap();
        assert_eq!(create.step, Step::Create);
        assert_eq!(create.token, "3f1b8a3e-5f4c-4c2e-9a57-0b7f1f0b6c11");
        assert_eq!(create.rotation_token, None);
        let finish = fixture(include_str!(
            "../tests/fixtures/finish-secret-with-rotation-token.json"
        ))
        .unwrap();
        assert_eq!(finish.step, Step::Finish);
        assert_eq!(
            finish.rotation_token.as_deref(),
            Some("8c1f5e2a-rotation-token")
        );
    }

    #[test]
    fn step_names_round_trip() {
        for name in Step::NAMES {
            assert_eq!(Step::parse(name).unwrap().name(), name);
        }
    }

    #[test]
    fn unknown_step_lists_the_allowed_names() {
        let error =
            fixture(r#"{"SecretId":"s","ClientRequestToken":"t","Step":"create"}"#).unwrap_err();
        assert_eq!(error.kind(), "InvalidEvent");
        let message = error.to_string();
        assert!(message.contains("`create`"), "{message}");
        for name in Step::NAMES {
            assert!(message.contains(name), "{message}");
        }
    }

    fn invocation(text: &str) -> Result<Invocation, RotationError> {
        Invocation::from_json(serde_json::from_str(text).unwrap())
    }

    #[test]
    fn operator_actions_are_told_apart_from_steps() {
        assert!(matches!(
            invocation(r#"{"SecretId":"s","ClientRequestToken":"t","Step":"setSecret"}"#),
            Ok(Invocation::Rotation(_))
        ));
        assert_eq!(
            invocation(r#"{"Action":"preflight","SecretId":"arn:s"}"#).unwrap(),
            Invocation::Preflight {
                secret_id: "arn:s".into()
            }
        );
        assert_eq!(
            invocation(r#"{"Action":"recover","SecretId":"s"}"#).unwrap(),
            Invocation::Recover {
                secret_id: "s".into(),
                apply: false
            }
        );
        assert_eq!(
            invocation(r#"{"Action":"recover","SecretId":"s","Apply":true}"#).unwrap(),
            Invocation::Recover {
                secret_id: "s".into(),
                apply: true
            }
        );
        assert_eq!(
            invocation(r#"{"Action":"audit"}"#).unwrap(),
            Invocation::Audit
        );
        assert_eq!(
            invocation(r#"{"Action":"drift-check"}"#).unwrap(),
            Invocation::DriftCheck
        );
        assert_eq!(
            invocation(r#"{"Action":"adopt-partner","SecretId":"arn:s"}"#).unwrap(),
            Invocation::AdoptPartner {
                secret_id: "arn:s".into()
            }
        );
    }

    #[test]
    fn bad_operator_events_say_what_to_send() {
        for (text, expected) in [
            (r#"{"Action":"preflight"}"#, "SecretId"),
            (
                r#"{"Action":"adopt-partner"}"#,
                "`adopt-partner` needs `SecretId`",
            ),
            (r#"{"Action":"recover","SecretId":""}"#, "SecretId"),
            (
                r#"{"Action":"recover","SecretId":"s","Apply":"yes"}"#,
                "`Apply`",
            ),
            (
                r#"{"Action":"rotate","SecretId":"s"}"#,
                "`preflight`, `recover`, `audit`, `adopt-partner`, `drift-check`",
            ),
            (r#"{"Action":7}"#, "`Action` must be a string"),
            (
                r#"{"Action":"audit","Step":"setSecret"}"#,
                "both `Action` and `Step`",
            ),
        ] {
            let error = invocation(text).unwrap_err();
            assert_eq!(error.kind(), "InvalidEvent");
            assert!(error.to_string().contains(expected), "{text}: {error}");
        }
    }

    #[test]
    fn missing_fields_are_named() {
        let error = fixture(r#"{"SecretId":"s","Step":"setSecret"}"#).unwrap_err();
        assert!(error.to_string().contains("ClientRequestToken"));
        let error = fixture(r#"[1,2]"#).unwrap_err();
        assert_eq!(error.kind(), "InvalidEvent");
    }
}
