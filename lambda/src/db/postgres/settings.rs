//! Role settings (`ALTER ROLE ... SET`) copied from user to partner: their stored form read
//! back into values the server takes again.

use super::*;

/// Adds the setting a failed statement was about to the error.
pub(super) fn name_setting(error: RotationError, name: &str, database: &str) -> RotationError {
    match error {
        RotationError::Database {
            host,
            port,
            action,
            detail,
            hint,
        } => RotationError::Database {
            host,
            port,
            action,
            detail: format!(
                "setting `{name}`{}: {detail}",
                if database.is_empty() {
                    String::new()
                } else {
                    format!(" in database `{database}`")
                }
            ),
            hint,
        },
        other => other,
    }
}

/// Settings whose stored value is a list of identifiers, each quoted by the server when it
/// needs quotes (GUC_LIST_QUOTE; the list pg_dump keeps for the same purpose).
pub(super) const LIST_QUOTE_SETTINGS: [&str; 6] = [
    "local_preload_libraries",
    "search_path",
    "session_preload_libraries",
    "shared_preload_libraries",
    "temp_tablespaces",
    "unix_socket_directories",
];

/// The value part of `SET name TO ...` that makes the server store `stored` again.
///
/// For most settings the stored text is taken as it is from one literal. For list settings
/// such as `search_path` the server quotes each element of a literal as an identifier, so
/// `'a, b'` would become the one schema `"a, b"`: the stored list is split (as pg_dump does)
/// and each element given as its own literal, which the server quotes back the same way.
pub fn setting_value(name: &str, stored: &str) -> String {
    if !LIST_QUOTE_SETTINGS
        .iter()
        .any(|s| s.eq_ignore_ascii_case(name))
    {
        return quote_literal(stored);
    }
    let elements = split_guc_list(stored);
    if elements.is_empty() {
        return "''".to_owned();
    }
    elements
        .iter()
        .map(|e| quote_literal(e))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Splits a stored list setting into its elements: separated by commas, surrounding
/// whitespace dropped, double-quoted elements unquoted (`""` inside is one `"`). Unquoted
/// elements are kept as they are (the server already downcased them when it stored them).
pub(super) fn split_guc_list(stored: &str) -> Vec<String> {
    let mut elements = Vec::new();
    let mut chars = stored.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let mut element = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                if c == '"' {
                    if chars.peek() == Some(&'"') {
                        chars.next();
                        element.push('"');
                    } else {
                        break;
                    }
                } else {
                    element.push(c);
                }
            }
            while chars.peek().is_some_and(|c| *c != ',') {
                chars.next();
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                element.push(c);
                chars.next();
            }
            element.truncate(element.trim_end().len());
        }
        elements.push(element);
        if chars.next().is_none() {
            break;
        }
    }
    elements
}
