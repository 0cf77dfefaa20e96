//! What a failed connection means: the error chain read for the cause, sorted into the
//! function's errors.

use super::*;

/// What a failed connection attempt means for the caller.
pub(super) fn connect_failure(
    login: &Login,
    error: tokio_postgres::Error,
) -> Result<Option<Box<dyn Session>>, RotationError> {
    if let Some(db) = error.as_db_error() {
        let code = db.code().code();
        // 28P01 (invalid_password) is the only answer that means "this password is wrong";
        // everything else the server says at login (28000 from pg_hba.conf or a NOLOGIN role,
        // 3D000, 53300...) is not fixed by another password.
        if code == "28P01" {
            return Ok(None);
        }
        return Err(RotationError::LoginRefused {
            host: login.host.clone(),
            port: login.port,
            user: login.username.clone(),
            detail: format!(
                "{} (SQLSTATE {code})",
                server_text(db.message(), &[login.password.expose_secret()])
            ),
        });
    }
    // tokio-postgres keeps its error kinds private; its message names the stage that failed.
    // No message of these kinds can hold the password: it is only ever sent inside SCRAM or
    // a password message, never echoed.
    let text = server_text(&error_chain(&error), &[login.password.expose_secret()]);
    if text.starts_with("error performing TLS handshake") {
        return Err(RotationError::Tls {
            host: login.host.clone(),
            port: login.port,
            detail: text,
        });
    }
    if text.starts_with("authentication error") {
        return Err(RotationError::LoginRefused {
            host: login.host.clone(),
            port: login.port,
            user: login.username.clone(),
            detail: text,
        });
    }
    Err(RotationError::Unreachable {
        host: login.host.clone(),
        port: login.port,
        detail: text,
    })
}

/// An error and its causes, one after the other. `io::Error` hides the error it wraps from
/// `source()`, so the rustls error under a failed handshake is fetched explicitly.
pub(super) fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut current = error.source();
    while let Some(cause) = current {
        let part = match cause
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => inner.to_string(),
            None => cause.to_string(),
        };
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        current = cause.source();
    }
    text
}
