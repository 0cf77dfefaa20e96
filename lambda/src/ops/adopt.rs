//! Adopt-partner: an operator's explicit word that an existing alternate user is the
//! function's to rotate.
//!
//! On MySQL and MariaDB nothing in the server ties `name_clone` to `name`, so a rotation
//! changes an existing partner only when the function created it or an operator adopted it
//! (see [`crate::db::mysql::account`]). Pairs made before this function took over (by hand,
//! or by AWS's own rotation templates, whose clones carry no mark) are adopted once with
//! `{"Action": "adopt-partner", "SecretId": ...}`. The action runs every check a rotation
//! runs before a change (the pair's names, the master user, roles, locks, privileges beyond
//! the user's, the authentication plugin) and then only writes the record: no account, grant
//! or password changes, and the answer holds no password.

use crate::alternating::{self, partner_username};
use crate::db::Connector;
use crate::error::RotationError;
use crate::steps::{Rotator, Strategy, missing_stage};
use crate::store::{AWSCURRENT, SecretStore, Staged};

/// The answer, as the protocol shared with whoever reads it declares it.
pub use rotation_contract::report::AdoptReport;

/// Adopts the partner of `secret`'s AWSCURRENT user, through the master secret the secret
/// names. Fails, changing nothing, when a rotation would refuse the partner for any reason
/// other than the missing record.
pub async fn adopt<S, C, A>(
    rotator: &Rotator<S, C>,
    admin: &A,
    secret: &str,
) -> Result<AdoptReport, RotationError>
where
    S: SecretStore,
    C: Connector,
    A: SecretStore,
{
    // Nothing is read or tried for a secret this function may not act on.
    let metadata = admin.describe(secret).await?;
    let admitted = rotator.admit(
        secret,
        metadata.arn.as_deref(),
        metadata.rotation_lambda_arn.as_deref(),
    )?;
    // Read fresh, never through a warm instance's cache of stages.
    let value = admin
        .get(secret, Staged::Stage(AWSCURRENT))
        .await?
        .ok_or_else(|| missing_stage(secret, AWSCURRENT))?;
    let login = rotator.login_of(secret, AWSCURRENT, &value)?;
    let Strategy::AlternatingUsers { master_arn } = rotator.strategy(secret, admitted, &value)?
    else {
        return Err(RotationError::Strategy(format!(
            "secret `{secret}` is rotated as a single user: it has no partner to adopt"
        )));
    };
    let partner = partner_username(&login.username);

    let master = alternating::master_login(
        admin,
        rotator.rds.as_deref(),
        &rotator.config,
        secret,
        &master_arn,
        &login,
    )
    .await?;
    // The template's host is the account the secret's own credential logs in as where the
    // master acts, as in a rotation; that login also proves the credential is real.
    let host = rotator
        .prove_where_master_acts(secret, &login, &master)
        .await?;

    let Some(mut session) = rotator.connector.login(&master).await? else {
        return Err(alternating::master_error(
            secret,
            &master_arn,
            format!(
                "its credential does not log in to {}:{} as `{}`; put the master user's current \
                 password in it",
                master.host, master.port, master.username
            ),
        ));
    };
    let result = session
        .adopt_partner(&login.username, host.as_deref(), &partner)
        .await;
    session.close().await;
    result?;
    tracing::info!(
        secret = %secret,
        user = %login.username,
        partner = %partner,
        master = %master.username,
        "adopted the alternate user"
    );
    Ok(AdoptReport {
        action: rotation_contract::report::action::ADOPT_PARTNER.to_owned(),
        secret_id: secret.to_owned(),
        user: login.username,
        partner,
        host,
        master: master.username,
    })
}
