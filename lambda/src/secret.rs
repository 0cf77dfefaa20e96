//! The secret's JSON value, and the database login it describes.
//!
//! A secret value is kept as the JSON object it came as, so fields this function does not know
//! survive a rotation untouched. Reading it into a [`Login`] checks every field it needs and
//! names the one that is wrong. Neither type can print a password: `Debug` on a value lists its
//! field names only, and a login's password is a [`SecretString`].

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};

pub use crate::engine::{Engine, EngineFamily};

/// Whether a connection is encrypted and verified: the secret's `ssl` field, or `DB_TLS` when
/// the secret has none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tls {
    /// TLS, with the server certificate's chain (to the CA bundle alone) and host name
    /// verified.
    VerifyFull,
    /// Plaintext, because the secret or the configuration says so explicitly.
    Disabled,
}

/// Everything needed to open one database connection.
#[derive(Debug, Clone)]
pub struct Login {
    pub engine: Engine,
    pub host: String,
    pub port: u16,
    pub username: String,
    pub password: SecretString,
    pub dbname: Option<String>,
    pub tls: Tls,
}

/// A field of a secret's value that cannot be used, and why. The problem names the field and
/// never quotes a value that could be the password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{problem}")]
pub struct InvalidField {
    /// The field (`SecretString` for the value as a whole).
    pub field: &'static str,
    pub problem: String,
}

impl InvalidField {
    pub fn new(field: &'static str, problem: impl Into<String>) -> Self {
        Self {
            field,
            problem: problem.into(),
        }
    }
}

/// A secret's value: a JSON object in the RDS format, every field kept.
#[derive(Clone, PartialEq)]
pub struct SecretValue {
    fields: Map<String, Value>,
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Field names only: values include the password.
        f.debug_struct("SecretValue")
            .field("fields", &self.fields.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl SecretValue {
    /// Parses a SecretString. The error never quotes the text, which holds a password.
    pub fn parse(text: &str) -> Result<Self, InvalidField> {
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(fields)) => Ok(Self { fields }),
            Ok(_) => Err(InvalidField::new(
                "SecretString",
                "the SecretString is JSON but not an object; store the RDS format \
                           {\"engine\", \"host\", \"username\", \"password\", ...}",
            )),
            Err(e) => Err(InvalidField::new(
                "SecretString",
                format!(
                    "the SecretString is not JSON (line {}, column {}); store the RDS format",
                    e.line(),
                    e.column()
                ),
            )),
        }
    }

    pub fn to_json(&self) -> String {
        Value::Object(self.fields.clone()).to_string()
    }

    pub fn from_fields(fields: Map<String, Value>) -> Self {
        Self { fields }
    }

    /// Every field. Values include the password: name them, never print them.
    pub fn fields(&self) -> &Map<String, Value> {
        &self.fields
    }

    /// A string field, if present and a string.
    pub fn str_field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).and_then(Value::as_str)
    }

    /// A copy with one string field replaced, every other field unchanged.
    pub fn with_field(&self, name: &str, value: &str) -> Self {
        let mut fields = self.fields.clone();
        fields.insert(name.to_owned(), Value::String(value.to_owned()));
        Self { fields }
    }

    /// A copy with a new password.
    pub fn with_password(&self, password: &SecretString) -> Self {
        self.with_field("password", password.expose_secret())
    }

    /// The master secret's ARN, which makes this a secret for alternating users.
    pub fn master_arn(&self) -> Option<&str> {
        self.str_field("masterarn").filter(|arn| !arn.is_empty())
    }

    /// Reads the login this value describes, checking each field. `default_tls` applies when
    /// the value has no `ssl` field.
    pub fn login(&self, default_tls: Tls) -> Result<Login, InvalidField> {
        let engine_name = self.required_str("engine")?;
        let engine = Engine::parse(engine_name).ok_or_else(|| {
            InvalidField::new(
                "engine",
                format!(
                    "`engine` is `{engine_name}`, which this function does not rotate; use one \
                     of {}",
                    Engine::NAMES.map(|n| format!("`{n}`")).join(", ")
                ),
            )
        })?;
        let host = self.required_str("host")?.to_owned();
        let port = match self.fields.get("port") {
            None | Some(Value::Null) => engine.default_port(),
            Some(Value::Number(n)) => n
                .as_u64()
                .and_then(|n| u16::try_from(n).ok())
                .filter(|n| *n > 0)
                .ok_or_else(|| {
                    InvalidField::new(
                        "port",
                        format!("`port` is {n}; use a TCP port from 1 to 65535"),
                    )
                })?,
            Some(Value::String(s)) => {
                s.trim()
                    .parse::<u16>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| {
                        InvalidField::new(
                            "port",
                            format!("`port` is `{s}`; use a TCP port from 1 to 65535"),
                        )
                    })?
            }
            Some(_) => {
                return Err(InvalidField::new(
                    "port",
                    "`port` must be a number or a string of digits",
                ));
            }
        };
        let username = self.required_str("username")?.to_owned();
        if username.contains('\0') {
            return Err(InvalidField::new(
                "username",
                "`username` contains a NUL character, which no engine accepts",
            ));
        }
        let password = match self.fields.get("password") {
            Some(Value::String(p)) if !p.is_empty() => SecretString::from(p.clone()),
            Some(Value::String(_)) | None | Some(Value::Null) => {
                return Err(InvalidField::new(
                    "password",
                    "`password` is missing or empty",
                ));
            }
            Some(_) => return Err(InvalidField::new("password", "`password` must be a string")),
        };
        let dbname = match self.fields.get("dbname") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.is_empty() => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(InvalidField::new("dbname", "`dbname` must be a string")),
        }
        .or_else(|| (engine.family() == EngineFamily::Postgres).then(|| "postgres".to_owned()));
        let tls = match self.fields.get("ssl") {
            None | Some(Value::Null) => default_tls,
            Some(Value::Bool(true)) => Tls::VerifyFull,
            Some(Value::Bool(false)) => Tls::Disabled,
            Some(Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
                "true" => Tls::VerifyFull,
                "false" => Tls::Disabled,
                _ => {
                    return Err(InvalidField::new(
                        "ssl",
                        format!("`ssl` is `{s}`; use true or false"),
                    ));
                }
            },
            Some(_) => return Err(InvalidField::new("ssl", "`ssl` must be true or false")),
        };
        Ok(Login {
            engine,
            host,
            port,
            username,
            password,
            dbname,
            tls,
        })
    }

    fn required_str(&self, name: &'static str) -> Result<&str, InvalidField> {
        match self.fields.get(name) {
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(s),
            Some(Value::String(_)) | None | Some(Value::Null) => Err(InvalidField::new(
                name,
                format!("`{name}` is missing or empty"),
            )),
            Some(_) => Err(InvalidField::new(
                name,
                format!("`{name}` must be a string"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Tls {
        Tls::VerifyFull
    }

    fn value(json: &str) -> SecretValue {
        SecretValue::parse(json).unwrap()
    }

    #[test]
    fn reads_a_postgres_login_with_defaults() {
        let login = value(r#"{"engine":"postgres","host":"db","username":"app","password":"pw"}"#)
            .login(config())
            .unwrap();
        assert_eq!(login.port, 5432);
        assert_eq!(login.dbname.as_deref(), Some("postgres"));
        assert_eq!(login.tls, Tls::VerifyFull);
    }

    #[test]
    fn mysql_has_no_default_dbname_and_port_may_be_a_string() {
        let login = value(
            r#"{"engine":"mariadb","host":"db","port":"3307","username":"app","password":"pw"}"#,
        )
        .login(config())
        .unwrap();
        assert_eq!(login.port, 3307);
        assert_eq!(login.dbname, None);
    }

    #[test]
    fn ssl_field_chooses_tls_explicitly() {
        for (ssl, tls) in [
            ("false", Tls::Disabled),
            ("\"false\"", Tls::Disabled),
            ("true", Tls::VerifyFull),
            ("\"TRUE\"", Tls::VerifyFull),
        ] {
            let json = format!(
                r#"{{"engine":"mysql","host":"db","username":"a","password":"p","ssl":{ssl}}}"#
            );
            assert_eq!(value(&json).login(config()).unwrap().tls, tls);
        }
    }

    #[test]
    fn bad_fields_are_named_without_the_password() {
        let cases = [
            (
                r#"{"engine":"oracle","host":"h","username":"u","password":"pw1"}"#,
                "`engine`",
            ),
            (
                r#"{"engine":"mysql","username":"u","password":"pw1"}"#,
                "`host`",
            ),
            (
                r#"{"engine":"mysql","host":"h","port":70000,"username":"u","password":"pw1"}"#,
                "`port`",
            ),
            (
                r#"{"engine":"mysql","host":"h","port":"x","username":"u","password":"pw1"}"#,
                "`port`",
            ),
            (
                r#"{"engine":"mysql","host":"h","password":"pw1"}"#,
                "`username`",
            ),
            (
                r#"{"engine":"mysql","host":"h","username":"u"}"#,
                "`password`",
            ),
            (
                r#"{"engine":"mysql","host":"h","username":"u","password":"pw1","ssl":"maybe"}"#,
                "`ssl`",
            ),
        ];
        for (json, field) in cases {
            let error = value(json).login(config()).unwrap_err();
            // The typed error names the field, and its message never quotes the password.
            assert_eq!(format!("`{}`", error.field), field, "{error}");
            assert!(error.problem.contains(field), "{error}");
            assert!(!error.to_string().contains("pw1"), "{error}");
        }
    }

    #[test]
    fn unknown_fields_survive_a_password_change() {
        let original =
            value(r#"{"engine":"mysql","password":"old","team":{"owner":"x"},"n":[1,2]}"#);
        let changed = original.with_password(&SecretString::from("new"));
        let parsed: Value = serde_json::from_str(&changed.to_json()).unwrap();
        assert_eq!(parsed["team"]["owner"], "x");
        assert_eq!(parsed["n"][1], 2);
        assert_eq!(parsed["password"], "new");
    }

    #[test]
    fn debug_never_shows_values() {
        let secret = value(r#"{"username":"u","password":"hunter2-secret"}"#);
        let shown = format!("{secret:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        let login =
            value(r#"{"engine":"mysql","host":"h","username":"u","password":"hunter2-secret"}"#)
                .login(config())
                .unwrap();
        assert!(!format!("{login:?}").contains("hunter2"));
    }

    #[test]
    fn parse_errors_never_quote_the_text() {
        let error = SecretValue::parse(r#"{"password":"hunter2-secret""#).unwrap_err();
        assert_eq!(error.field, "SecretString");
        assert!(!error.to_string().contains("hunter2"), "{error}");
        assert!(SecretValue::parse("[]").is_err());
    }
}
