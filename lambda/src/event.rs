//! The event Secrets Manager sends for each rotation step.
//!
//! The event is parsed from raw JSON here rather than by the runtime so that a malformed event
//! fails with this function's own error kind and a message listing what is allowed.

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
    pub const NAMES: [&'static str; 4] =
        ["createSecret", "setSecret", "testSecret", "finishSecret"];

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

    #[test]
    fn missing_fields_are_named() {
        let error = fixture(r#"{"SecretId":"s","Step":"setSecret"}"#).unwrap_err();
        assert!(error.to_string().contains("ClientRequestToken"));
        let error = fixture(r#"[1,2]"#).unwrap_err();
        assert_eq!(error.kind(), "InvalidEvent");
    }
}
