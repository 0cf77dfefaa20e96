//! One error type for the whole function.
//!
//! Every variant has a stable `kind` that becomes the Lambda `errorType`, so a CloudWatch metric
//! filter or an alarm can match on it, and a message that says what to check. Messages carry
//! names (secret ARNs, hosts, users, stages) and never a credential: values from the secret are
//! only ever named, not printed.

use lambda_runtime::Diagnostic;

use crate::secret::InvalidField;

/// Everything that can make a rotation step fail.
#[derive(Debug, thiserror::Error)]
pub enum RotationError {
    /// The event Secrets Manager sent is not one this function understands.
    #[error("invalid rotation event: {0}")]
    InvalidEvent(String),

    /// An environment variable of the function has a value it cannot use.
    #[error("invalid configuration: `{var}` {problem}")]
    Config { var: &'static str, problem: String },

    /// Rotation is not enabled on the secret (AWS's guard).
    #[error(
        "rotation is not enabled for secret `{secret}`; enable it with RotateSecret or a \
         RotationSchedule before invoking this function"
    )]
    RotationDisabled { secret: String },

    /// The token is not a version of the secret.
    #[error(
        "secret `{secret}` has no version `{token}`; the ClientRequestToken must be the version \
         Secrets Manager created for this rotation"
    )]
    UnknownVersion { secret: String, token: String },

    /// The token's version is not staged as AWSPENDING.
    #[error(
        "version `{token}` of secret `{secret}` is not staged AWSPENDING (stages: {stages}); \
         only the rotation in progress may be driven"
    )]
    NotPending {
        secret: String,
        token: String,
        stages: String,
    },

    /// A staged value that the step needs does not exist.
    #[error("secret `{secret}` has no value staged {stage}. {hint}")]
    MissingStage {
        secret: String,
        stage: String,
        hint: &'static str,
    },

    /// A staged value is not a usable database secret.
    #[error("secret `{secret}` ({stage}) is not a usable database secret: {source}")]
    InvalidSecret {
        secret: String,
        stage: String,
        #[source]
        source: InvalidField,
    },

    /// The pending value would change another user, host or engine than the one it replaces.
    #[error(
        "secret `{secret}`: the AWSPENDING value names {field} `{pending}` where {stage} calls \
         for `{expected}`; a rotation may only change the password of the secret's own user (or, \
         with alternating users, its partner) on the same host"
    )]
    IdentityMismatch {
        secret: String,
        field: &'static str,
        pending: String,
        stage: &'static str,
        expected: String,
    },

    /// The other user of an alternating pair would have a name the engine refuses.
    #[error(
        "secret `{secret}`: the alternate user `{user}` would be {length} characters long, but \
         {engine} allows at most {limit}; shorten `username` to leave room for `_clone`. {hint}"
    )]
    UsernameTooLong {
        secret: String,
        user: String,
        length: usize,
        engine: &'static str,
        limit: usize,
        hint: &'static str,
    },

    /// The master secret of an alternating-users secret cannot be used.
    #[error("master secret `{master}` of secret `{secret}` cannot be used: {problem}")]
    MasterSecret {
        secret: String,
        master: String,
        problem: String,
    },

    /// The master secret is for another database host than the secret.
    #[error(
        "master secret `{master}` is for host `{master_host}` but secret `{secret}` is for host \
         `{host}`; set `masterarn` to the master secret of `{host}`"
    )]
    MasterHostMismatch {
        secret: String,
        host: String,
        master: String,
        master_host: String,
    },

    /// The secret's kind of rotation is not the one this function is pinned to, or its value
    /// names another strategy or master than the stack configures.
    #[error("{0}")]
    Strategy(String),

    /// The function may not act on this secret: the stack does not configure it, it is a
    /// master secret, or another function rotates it.
    #[error("secret `{secret}` is refused: {problem}")]
    NotConfigured { secret: String, problem: String },

    /// A Secrets Manager call failed.
    #[error(
        "secrets manager {op} on `{secret}` failed: {}",
        with_hint(detail, hint)
    )]
    SecretsManager {
        op: &'static str,
        secret: String,
        /// The service's error code (`ResourceExistsException`...), when it answered.
        code: Option<String>,
        detail: String,
        /// What to check, as a sentence (empty when there is nothing to add).
        hint: &'static str,
        /// The SDK's error: the request's outcome, never a secret value.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },

    /// The database could not be reached at all.
    #[error(
        "cannot reach database {host}:{port}: {detail}; check that the function runs in the \
         database's VPC, that its security group may reach the database port and the database \
         accepts it, and that the host and port in the secret are right"
    )]
    Unreachable {
        host: String,
        port: u16,
        detail: String,
    },

    /// TLS to the database could not be established or verified.
    #[error(
        "TLS to database {host}:{port} failed: {detail}; check the CA bundle (`DB_CA_BUNDLE`, \
         shipped in the driver layer), that the secret's host is the name in the server \
         certificate, and that the server has TLS on (plaintext is used only when the secret's \
         `ssl` is false or `DB_TLS=disabled`)"
    )]
    Tls {
        host: String,
        port: u16,
        detail: String,
    },

    /// No staged credential logs in to the database.
    #[error(
        "no credential of secret `{secret}` logs in to {host}:{port} as `{user}` (tried {tried}); \
         the password in the database no longer matches any staged value: reset it to the \
         AWSCURRENT value by hand, then rotate again"
    )]
    NoWorkingCredential {
        secret: String,
        host: String,
        port: u16,
        user: String,
        tried: String,
    },

    /// The database refused a statement.
    /// No cause is kept: a driver error can quote the statement, and statements carry
    /// passwords.
    #[error(
        "database {host}:{port} refused to {action}: {}",
        with_hint(detail, hint)
    )]
    Database {
        host: String,
        port: u16,
        action: &'static str,
        detail: String,
        hint: &'static str,
    },

    /// The server refused a login for another reason than a wrong password: its client
    /// authentication rules (PostgreSQL's pg_hba.conf, RDS's `rds.force_ssl`), a role without
    /// LOGIN, a locked account. Trying another staged password would not help.
    #[error(
        "database {host}:{port} refused the login of `{user}` for a reason other than its \
         password: {detail}; check the server's client authentication rules (pg_hba.conf, \
         `rds.force_ssl` when the secret says `\"ssl\": false`), that the user may log in (LOGIN, \
         not locked or expired) and the database name; the staged passwords were left as they are"
    )]
    LoginRefused {
        host: String,
        port: u16,
        user: String,
        detail: String,
    },

    /// A statement waited past its bound, usually for a lock another session holds.
    #[error(
        "database {host}:{port} did not {action} within {seconds} s: {detail}; another session \
         holds a lock it needs (a running backup, a long transaction that changed the role, \
         `FLUSH TABLES WITH READ LOCK`): let it finish and the rotation will be retried \
         (`DB_STATEMENT_TIMEOUT` sets the bound)"
    )]
    DatabaseTimeout {
        host: String,
        port: u16,
        action: &'static str,
        seconds: u64,
        detail: String,
    },

    /// The other user of an alternating pair is not one the function may take over.
    #[error(
        "refusing to make `{user}` the alternate user: {problem}; nothing was changed. The \
         partner of `name` is `name_clone` (and back), and it may hold nothing the user does not"
    )]
    UnsafePartner { user: String, problem: String },

    /// The user an alternating rotation would copy holds what an application user must not.
    #[error(
        "refusing to copy the privileges of `{user}` to an alternate user: {problem}; nothing \
         was changed. Alternating users copies an application user: never the master user, a \
         superuser, or a user that may manage roles"
    )]
    UnsafeTemplate { user: String, problem: String },

    /// The pending credential did not pass the test.
    #[error(
        "the AWSPENDING credential of secret `{secret}` does not log in to {host}:{port} as \
         `{user}`; setSecret did not take effect, so AWSCURRENT stays as it is"
    )]
    TestFailed {
        secret: String,
        host: String,
        port: u16,
        user: String,
    },
}

/// A hint after a message: `. Hint.`, or nothing.
/// The service's message, then the hint as a sentence of its own: "Not found. Check ...", never
/// "Not found.. Check ..." (the service's messages often end with a period, sometimes not).
fn with_hint(detail: &str, hint: &str) -> String {
    if hint.is_empty() {
        detail.to_owned()
    } else {
        format!("{}. {hint}", detail.trim_end().trim_end_matches('.'))
    }
}

impl RotationError {
    /// Whether Secrets Manager refused to put a value in a version that already holds another
    /// (ResourceExistsException): a retried or concurrent createSecret got there first.
    pub fn is_version_taken(&self) -> bool {
        matches!(self, Self::SecretsManager { op: "PutSecretValue", code: Some(code), .. }
            if code == "ResourceExistsException")
    }

    /// The stable name of the failure, used as the Lambda `errorType`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::InvalidEvent(_) => "InvalidEvent",
            Self::Config { .. } => "InvalidConfiguration",
            Self::RotationDisabled { .. } => "RotationDisabled",
            Self::UnknownVersion { .. } => "UnknownVersion",
            Self::NotPending { .. } => "VersionNotPending",
            Self::MissingStage { .. } => "MissingStage",
            Self::InvalidSecret { .. } => "InvalidSecret",
            Self::IdentityMismatch { .. } => "IdentityMismatch",
            Self::UsernameTooLong { .. } => "UsernameTooLong",
            Self::MasterSecret { .. } => "MasterSecretError",
            Self::MasterHostMismatch { .. } => "MasterHostMismatch",
            Self::Strategy(_) => "StrategyMismatch",
            Self::NotConfigured { .. } => "SecretNotConfigured",
            Self::SecretsManager { .. } => "SecretsManagerError",
            Self::Unreachable { .. } => "DatabaseUnreachable",
            Self::Tls { .. } => "DatabaseTlsError",
            Self::NoWorkingCredential { .. } => "NoWorkingCredential",
            Self::Database { .. } => "DatabaseError",
            Self::TestFailed { .. } => "TestSecretFailed",
            Self::LoginRefused { .. } => "LoginRefused",
            Self::DatabaseTimeout { .. } => "DatabaseTimeout",
            Self::UnsafePartner { .. } => "UnsafePartner",
            Self::UnsafeTemplate { .. } => "UnsafeTemplate",
        }
    }
}

impl From<RotationError> for Diagnostic {
    fn from(error: RotationError) -> Self {
        Diagnostic {
            error_type: error.kind().to_owned(),
            error_message: error.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hint_follows_the_services_message_with_one_period() {
        assert_eq!(with_hint("Exists.", "Start again."), "Exists. Start again.");
        assert_eq!(with_hint("Exists", "Start again."), "Exists. Start again.");
        assert_eq!(with_hint("Exists.", ""), "Exists.");
    }

    #[test]
    fn diagnostic_carries_the_stable_kind() {
        let diagnostic: Diagnostic = RotationError::RotationDisabled {
            secret: "arn:aws:secretsmanager:us-east-1:1:secret:x".into(),
        }
        .into();
        assert_eq!(diagnostic.error_type, "RotationDisabled");
        assert!(diagnostic.error_message.contains("RotateSecret"));
    }
}
