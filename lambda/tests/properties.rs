//! Hostile input, generated: the event parser, the secret parser and every quoting function,
//! offline. Any input either parses to a value that means what it said, or is refused with an
//! error that names what is wrong and never quotes a password; nothing panics.
//!
//! The quoting functions are checked against small reference readers written from the
//! engines' documented literal syntax; tests/quoting_roundtrip.rs sends generated names and
//! passwords through the real servers. `PROPTEST_CASES` sets the number of cases (`make fuzz`
//! runs many more).

use proptest::prelude::*;
use rotation::RotationEvent;
use rotation::db::{mysql, postgres};
use rotation::secret::{SecretValue, Tls};
use serde_json::{Map, Value, json};

/// Any JSON value, nested a little.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(any::<String>(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A field the event or secret format knows, or any other name.
fn field_name(known: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(known).prop_map(str::to_owned),
        1 => any::<String>(),
    ]
}

const EVENT_FIELDS: &[&str] = &["SecretId", "ClientRequestToken", "Step", "RotationToken"];
const STEPS: &[&str] = &["createSecret", "setSecret", "testSecret", "finishSecret"];
const SECRET_FIELDS: &[&str] = &[
    "engine",
    "host",
    "port",
    "username",
    "password",
    "dbname",
    "ssl",
    "masterarn",
];

/// Reads a PostgreSQL string literal as the server does, in either
/// `standard_conforming_strings` mode; `None` when it is not one literal.
fn read_pg_literal(text: &str, standard_conforming: bool) -> Option<String> {
    // The escape form starts with a space (libpq's guard against an identifier before it).
    let (escape, body) = match text.strip_prefix(" E'") {
        Some(rest) => (true, rest),
        None => (!standard_conforming, text.strip_prefix('\'')?),
    };
    let mut out = String::new();
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => match chars.next() {
                Some('\'') => out.push('\''),
                None => return Some(out),
                Some(_) => return None,
            },
            '\\' if escape => out.push(chars.next()?),
            c => out.push(c),
        }
    }
    None
}

/// Reads a quoted identifier (`"..."` for PostgreSQL, `` `...` `` for MySQL).
fn read_identifier(text: &str, quote: char) -> Option<String> {
    let body = text.strip_prefix(quote)?.strip_suffix(quote)?;
    let doubled: String = [quote, quote].iter().collect();
    let single: String = [quote].iter().collect();
    // Every quote inside must come doubled.
    if body.replace(&doubled, "").contains(quote) {
        return None;
    }
    Some(body.replace(&doubled, &single))
}

/// Reads a MySQL string literal the way the server does with `NO_BACKSLASH_ESCAPES` on or off.
fn read_mysql_literal(text: &str, no_backslash_escapes: bool) -> Option<String> {
    let body = text.strip_prefix('\'')?;
    let mut out = String::new();
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => match chars.next() {
                Some('\'') => out.push('\''),
                None => return Some(out),
                Some(_) => return None,
            },
            '\\' if !no_backslash_escapes => match chars.next()? {
                '0' => out.push('\0'),
                'Z' => out.push('\u{1a}'),
                'n' => out.push('\n'),
                'r' => out.push('\r'),
                't' => out.push('\t'),
                'b' => out.push('\u{8}'),
                other => out.push(other),
            },
            c => out.push(c),
        }
    }
    None
}

proptest! {
    #[test]
    fn any_event_parses_or_is_refused_by_name(
        fields in prop::collection::btree_map(field_name(EVENT_FIELDS), any_json(), 0..6),
        step in prop::sample::select(STEPS),
        well_formed in any::<bool>(),
    ) {
        let mut object: Map<String, Value> = fields.into_iter().collect();
        if well_formed {
            object.insert("Step".into(), json!(step));
        }
        match RotationEvent::from_json(Value::Object(object.clone())) {
            Ok(event) => {
                // What parsed is exactly what was sent.
                prop_assert_eq!(Some(event.secret_id.as_str()), object["SecretId"].as_str());
                prop_assert_eq!(
                    Some(event.token.as_str()),
                    object["ClientRequestToken"].as_str()
                );
                prop_assert_eq!(Some(event.step.name()), object["Step"].as_str());
            }
            Err(error) => {
                prop_assert_eq!(error.kind(), "InvalidEvent");
                prop_assert!(error.to_string().contains('`'), "{}", error);
            }
        }
    }

    #[test]
    fn any_secret_string_parses_or_is_refused_without_quoting_it(text in any::<String>()) {
        let marked = format!("{text}hunter2-secret");
        if let Err(error) = SecretValue::parse(&marked) {
            prop_assert_eq!(error.field, "SecretString");
            prop_assert!(!error.to_string().contains("hunter2"), "{}", error);
        }
    }

    #[test]
    fn any_secret_reads_a_login_or_names_the_field(
        fields in prop::collection::btree_map(field_name(SECRET_FIELDS), any_json(), 0..9),
    ) {
        let mut object: Map<String, Value> = fields.into_iter().collect();
        // A password that must never show, whatever else is wrong.
        let password = object
            .entry("password")
            .or_insert_with(|| json!("hunter2-secret"))
            .clone();
        let value = SecretValue::from_fields(object.clone());
        let shown = format!("{value:?}");
        prop_assert!(!shown.contains("hunter2"));
        match value.login(Tls::VerifyFull) {
            Ok(login) => {
                prop_assert_eq!(Some(login.username.as_str()), object["username"].as_str());
                prop_assert_eq!(Some(login.host.as_str()), object["host"].as_str());
                prop_assert!(!login.username.contains('\0'));
                prop_assert!(login.port > 0);
                let shown = format!("{login:?}");
                prop_assert!(!shown.contains("hunter2"));
            }
            Err(error) => {
                prop_assert!(SECRET_FIELDS.contains(&error.field), "{}", error.field);
                prop_assert!(error.problem.contains(&format!("`{}`", error.field)), "{}", error);
                if let Some(text) = password.as_str().filter(|p| p.len() > 3) {
                    prop_assert!(!error.to_string().contains(text), "{}", error);
                }
            }
        }
    }

    #[test]
    fn postgres_literals_read_back_in_either_string_mode(value in any::<String>()) {
        let quoted = postgres::quote_literal(&value);
        prop_assert_eq!(read_pg_literal(&quoted, true), Some(value.clone()));
        prop_assert_eq!(read_pg_literal(&quoted, false), Some(value.clone()));
    }

    #[test]
    fn postgres_identifiers_read_back(name in any::<String>()) {
        let quoted = postgres::quote_identifier(&name);
        prop_assert_eq!(read_identifier(&quoted, '"'), Some(name.clone()));
    }

    #[test]
    fn mysql_literals_read_back_in_either_mode(value in any::<String>(), nbe in any::<bool>()) {
        let quoted = mysql::quote_string(&value, nbe);
        prop_assert_eq!(read_mysql_literal(&quoted, nbe), Some(value.clone()));
    }

    #[test]
    fn mysql_identifiers_read_back(name in any::<String>()) {
        let quoted = mysql::quote_identifier(&name);
        prop_assert_eq!(read_identifier(&quoted, '`'), Some(name.clone()));
    }
}
