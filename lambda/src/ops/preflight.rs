//! Preflight: everything a rotation of one secret needs, checked without changing anything,
//! so an operator finds at deploy time what would otherwise fail at 3 a.m.
//!
//! The checks run in the order a rotation needs them, and all of them run: a failure skips
//! only the checks that depend on it (no login check without a TCP connection), so one report
//! lists every problem at once, each with its fix. Each check reports only what it ran; the
//! report lists every other planned check as skipped, naming the failure that stopped it. The
//! only writes are PostgreSQL rehearsals inside a transaction that is always rolled back (see
//! [`Session::rehearse_own_password`](crate::db::Session::rehearse_own_password) and
//! [`Session::rehearse_clone`](crate::db::Session::rehearse_clone)).
//!
//! Values are read through the operator's uncached store: a warm instance's cache resolves
//! stages only within one rotation step.
//!
//! A login uses AWSCURRENT's own host, port and TLS setting, as a rotation does; the master
//! credential goes only where [`master_login`](crate::alternating::master_login) allows, the
//! same rule a rotation follows, so a preflight sends no password anywhere a rotation would
//! not.

use std::time::Duration;

use tokio::net::{TcpStream, lookup_host};

use super::logins::{Attempt, Earlier, LoginBudget};
use super::{Check, Status, check, rfc3339};
use crate::alternating::{self, partner_username};
use crate::db::Connector;
use crate::error::RotationError;
use crate::secret::{Login, Tls};
use crate::steps::{Rotator, Strategy, missing_stage};
use crate::store::{
    AWSCURRENT, AWSPENDING, SecretAdmin, SecretDetails, SecretStore, Staged,
    unqualified_function_arn,
};

pub use rotation_contract::report::PreflightReport;

/// Completes a report from the checks that ran: every check of `plan` that did not run is a
/// skip naming the failure that stopped it, and the checks are put in `plan`'s order.
fn finish(mut report: PreflightReport, plan: &[&'static str]) -> PreflightReport {
    let failed = |name: &str| report.status(name) == Some(Status::Fail);
    let mut skipped = Vec::new();
    for (at, check) in plan.iter().enumerate() {
        if report.status(check).is_none() {
            // The failed check, before this one, that the ones after it need.
            let why = match plan[..at]
                .iter()
                .rev()
                .find(|p| GATES.contains(p) && failed(p))
            {
                Some(gate) => format!("not checked: `{gate}` failed"),
                None => "not checked".to_owned(),
            };
            skipped.push(Check::skip(check, why));
        }
    }
    report.checks.extend(skipped);
    let position = |name: &str| plan.iter().position(|p| *p == name).unwrap_or(plan.len());
    report.checks.sort_by_key(|c| position(&c.check));
    report.problems = report
        .checks
        .iter()
        .filter(|c| c.status == Status::Fail)
        .count();
    report.ok = report.problems == 0;
    report
}

/// Every check, in the order a rotation needs them: those of both strategies, then each
/// strategy's own.
const COMMON_CHECKS: [&str; 7] = [
    check::ROTATION_SETTINGS,
    check::PENDING_VERSION,
    check::SECRET_VALUE,
    check::DNS,
    check::TCP,
    check::LOGIN,
    check::SERVER_SETTINGS,
];
const SINGLE_USER_CHECKS: [&str; 1] = [check::OWN_PASSWORD];
/// The checks whose failure stops the ones after them (no login without TCP, no master
/// privileges without the master's login).
const GATES: [&str; 7] = [
    check::SECRET_VALUE,
    check::DNS,
    check::TCP,
    check::LOGIN,
    check::MASTER_SECRET,
    check::MASTER_LOGIN,
    check::MASTER_PRIVILEGES,
];
const ALTERNATING_CHECKS: [&str; 5] = [
    check::MASTER_SECRET,
    check::MASTER_LOGIN,
    check::MASTER_PRIVILEGES,
    check::PARTNER_NAME,
    check::PARTNER_OBJECTS,
];

/// The name a report gives a strategy.
pub fn strategy_name(strategy: &Strategy) -> &'static str {
    use rotation_contract::settings::Strategy as Named;
    match strategy {
        Strategy::SingleUser => Named::SingleUser.name(),
        Strategy::AlternatingUsers { .. } => Named::AlternatingUsers.name(),
    }
}

/// The alternating checks of the read-only subset: no rehearsal of the master's change.
const ALTERNATING_READ_ONLY: [&str; 3] = [
    check::MASTER_SECRET,
    check::MASTER_LOGIN,
    check::PARTNER_NAME,
];

/// Runs every check for `secret`. `function_arn` is this function's ARN (from the invocation
/// context), to check that the secret names it as its rotation function.
pub async fn preflight<S, C, A>(
    rotator: &Rotator<S, C>,
    admin: &A,
    function_arn: Option<&str>,
    secret: &str,
) -> PreflightReport
where
    S: SecretStore,
    C: Connector,
    A: SecretAdmin + SecretStore,
{
    let mut report = PreflightReport::new(secret);
    let mut reached = Reached::default();
    run(
        rotator,
        admin,
        function_arn,
        secret,
        None,
        &mut report,
        &mut reached,
    )
    .await;
    let own: &[&str] = match report.strategy.as_deref() {
        Some("single-user") => &SINGLE_USER_CHECKS,
        Some(_) => &ALTERNATING_CHECKS,
        None => &[],
    };
    // The RDS Proxy check is last: it is about the applications after a rotation.
    let plan: Vec<&'static str> = COMMON_CHECKS
        .iter()
        .chain(own)
        .chain(&[check::RDS_PROXY])
        .copied()
        .collect();
    finish(report, &plan)
}

/// What the checks of one secret reached, for a caller that acts after them (the drift
/// check): the secret's details, AWSCURRENT's login and strategy, the master's login.
#[derive(Debug, Default)]
pub struct Reached {
    pub details: Option<SecretDetails>,
    pub current: Option<Login>,
    pub strategy: Option<Strategy>,
    pub master: Option<Login>,
    /// The account host of AWSCURRENT's login (MySQL), when the login was on the master's
    /// endpoint.
    pub account_host: Option<String>,
}

/// The read-only subset of the checks, for a run over many secrets (the drift check): no
/// rehearsal (not even in a transaction that is rolled back), no second login of the user
/// where the master acts elsewhere, and every login through the run's `budget` (one login per
/// user per run, none after a refusal; the master's session shared).
pub async fn preflight_read_only<S, C, A>(
    rotator: &Rotator<S, C>,
    admin: &A,
    function_arn: Option<&str>,
    secret: &str,
    budget: &LoginBudget,
) -> (PreflightReport, Reached)
where
    S: SecretStore,
    C: Connector,
    A: SecretAdmin + SecretStore,
{
    let mut report = PreflightReport::new(secret);
    let mut reached = Reached::default();
    run(
        rotator,
        admin,
        function_arn,
        secret,
        Some(budget),
        &mut report,
        &mut reached,
    )
    .await;
    let own: &[&str] = match report.strategy.as_deref() {
        Some("single-user") => &[],
        Some(_) => &ALTERNATING_READ_ONLY,
        None => &[],
    };
    let plan: Vec<&'static str> = COMMON_CHECKS.iter().chain(own).copied().collect();
    (finish(report, &plan), reached)
}

/// A login through the run's budget when there is one. `Err(check)`: the user was tried
/// before in this run, and `check` says what came of it.
async fn budgeted_login<C: Connector>(
    connector: &C,
    budget: Option<&LoginBudget>,
    login: &Login,
    name: &str,
    who: &str,
) -> Result<Result<Option<Box<dyn crate::db::Session>>, RotationError>, Check> {
    let Some(budget) = budget else {
        return Ok(connector.login(login).await);
    };
    match budget.login(connector, login).await {
        Attempt::Made(result) => Ok(result),
        Attempt::Before(earlier) => Err(earlier_check(name, who, &login.username, &earlier)),
    }
}

/// The check of a login not made again, from what the first attempt of the run came to.
fn earlier_check(name: &str, who: &str, user: &str, earlier: &Earlier) -> Check {
    match earlier {
        Earlier::Accepted(_) => Check::pass(
            name,
            format!("{who} logs in as `{user}` (proved earlier in this run)"),
        ),
        Earlier::Refused => Check::fail(
            name,
            format!(
                "the server refused {who}'s password for `{user}` earlier in this run; not                  tried again (no repeated failed logins)"
            ),
            "Put the user's current password in the secret (see the first secret of this              run that names the user), or invoke the function with {\"Action\": \"recover\",              \"SecretId\": ...}.",
        ),
        Earlier::Failed { kind, message } => Check::fail(
            name,
            format!("{message} (earlier in this run; not tried again)"),
            login_fix_of(kind),
        ),
    }
}

#[allow(clippy::too_many_arguments)]
async fn run<S, C, A>(
    rotator: &Rotator<S, C>,
    admin: &A,
    function_arn: Option<&str>,
    secret: &str,
    budget: Option<&LoginBudget>,
    report: &mut PreflightReport,
    reached: &mut Reached,
) where
    S: SecretStore,
    C: Connector,
    A: SecretAdmin + SecretStore,
{
    let checks = &mut report.checks;
    // Secrets Manager's view first: it needs no value. A secret the function may not act on
    // (not configured by the stack, a master secret, rotated by another function) is reported
    // before any value is read or any login made.
    let (admitted, secret_arn) = match admin.details(secret).await {
        Ok(details) => {
            let arn = Some(details.arn.as_str()).filter(|arn| !arn.is_empty());
            match rotator.admit(secret, arn, details.rotation_lambda_arn.as_deref()) {
                Ok(admitted) => {
                    checks.push(rotation_settings(&details, function_arn));
                    checks.push(pending_version(&details, admin, secret).await);
                    let arn = arn.unwrap_or(secret).to_owned();
                    reached.details = Some(details.clone());
                    (admitted, arn)
                }
                Err(error) => {
                    checks.push(Check::fail(
                        check::ROTATION_SETTINGS,
                        error.to_string(),
                        "Run the preflight of a secret the stack configures for this function, \
                         through the function that rotates it.",
                    ));
                    return;
                }
            }
        }
        Err(error) => {
            checks.push(Check::fail(
                check::ROTATION_SETTINGS,
                format!("DescribeSecret failed: {error}"),
                "Check the secret's ARN, and that the function's role may describe it.",
            ));
            return;
        }
    };

    // The secret's value: shape, engine, strategy.
    // Read fresh, never through a warm instance's cache of stages.
    let current_value = match admin
        .get(secret, Staged::Stage(AWSCURRENT))
        .await
        .and_then(|value| {
            let value = value.ok_or_else(|| missing_stage(secret, AWSCURRENT))?;
            let login = rotator.login_of(secret, AWSCURRENT, &value)?;
            let strategy = rotator.strategy(secret, admitted, &value)?;
            Ok((value, login, strategy))
        }) {
        Ok(found) => found,
        Err(error) => {
            checks.push(Check::fail(
                check::SECRET_VALUE,
                error.to_string(),
                "Store the credential in the secret's AWSCURRENT value in the RDS JSON format \
                 (engine, host, port, username, password; masterarn for alternating users).",
            ));
            return;
        }
    };
    let (_, login, strategy) = current_value;
    report.engine = Some(login.engine.name().to_owned());
    report.strategy = Some(strategy_name(&strategy).to_owned());
    let checks = &mut report.checks;
    checks.push(Check::pass(
        check::SECRET_VALUE,
        format!(
            "user `{}` at {}:{} ({}), {}, {}",
            login.username,
            login.host,
            login.port,
            login.engine.name(),
            match login.tls {
                Tls::VerifyFull => "TLS verified against the CA bundle",
                Tls::Disabled => "plaintext",
            },
            strategy_name(&strategy)
        ),
    ));
    // Needs only the secret and the RDS API, not the database: checked before the way there.
    checks.push(
        super::proxy::rds_proxy(
            rotator.rds.as_deref(),
            rotator.config.rds_api_route,
            &secret_arn,
            &strategy,
            &login.username,
        )
        .await,
    );

    // The way to the database.
    let timeout = rotator.config.connect_timeout;
    let Some(addresses) = dns(&login, timeout, checks).await else {
        return;
    };
    if !tcp(&login, &addresses, timeout, checks).await {
        return;
    }

    // AWSCURRENT's login, over TLS as the rotation makes it.
    reached.current = Some(login.clone());
    reached.strategy = Some(strategy.clone());
    let attempt =
        match budgeted_login(&rotator.connector, budget, &login, check::LOGIN, AWSCURRENT).await {
            Ok(attempt) => attempt,
            Err(found) => {
                checks.push(found);
                return;
            }
        };
    let session = match attempt {
        Ok(Some(session)) => {
            checks.push(match login.tls {
                Tls::VerifyFull => Check::pass(
                    check::LOGIN,
                    format!(
                        "AWSCURRENT logs in as `{}`; the server's certificate chains to the CA \
                         bundle and names `{}`",
                        login.username, login.host
                    ),
                ),
                Tls::Disabled => Check::warn(
                    check::LOGIN,
                    format!(
                        "AWSCURRENT logs in as `{}` in plaintext (the secret's `ssl: false` or \
                         DB_TLS=disabled)",
                        login.username
                    ),
                    "Use TLS: remove `ssl: false` from the secret, or set DB_TLS to verify-full, \
                     once the server offers it.",
                ),
            });
            session
        }
        Ok(None) => {
            checks.push(Check::fail(
                check::LOGIN,
                format!(
                    "the server refused AWSCURRENT's password for `{}`",
                    login.username
                ),
                "The database's password no longer matches AWSCURRENT: invoke the function \
                 with {\"Action\": \"recover\", \"SecretId\": ...} to see which version it \
                 matches and the safe way back.",
            ));
            return;
        }
        Err(error) => {
            checks.push(Check::fail(
                check::LOGIN,
                error.to_string(),
                login_fix(&error),
            ));
            return;
        }
    };

    let mut session = session;
    checks.push(match session.server_settings().await {
        Ok(notes) if notes.is_empty() => Check::pass(
            check::SERVER_SETTINGS,
            "no server setting that rotation has to work around",
        ),
        Ok(notes) => Check::warn(
            check::SERVER_SETTINGS,
            notes.join("; "),
            "Rotation works as it is; change the setting (the DB parameter group on RDS) so \
             that other clients are not affected either.",
        ),
        Err(error) => Check::warn(
            check::SERVER_SETTINGS,
            error.to_string(),
            "Check that AWSCURRENT's user may read the server's global variables.",
        ),
    });
    match strategy {
        Strategy::SingleUser if budget.is_some() => session.close().await,
        Strategy::SingleUser => {
            let result = session.rehearse_own_password(&login.username).await;
            session.close().await;
            checks.push(match result {
                Ok(()) => Check::pass(
                    check::OWN_PASSWORD,
                    format!("`{}` may change its own password", login.username),
                ),
                Err(error) => Check::fail(
                    check::OWN_PASSWORD,
                    error.to_string(),
                    "Let the user change its own password (on RDS PostgreSQL with \
                     rds.restrict_password_commands, grant it rds_password), or rotate it with \
                     alternating users and a master secret.",
                ),
            });
        }
        Strategy::AlternatingUsers { master_arn } => {
            // The account this login is, kept for when the master acts on this same endpoint:
            // no second login as the user to prove it there.
            let account_host = session.account_host().await;
            session.close().await;
            if let Ok(Some(host)) = &account_host {
                reached.account_host = Some(host.clone());
            }
            let found = alternating_checks(
                rotator,
                admin,
                secret,
                &master_arn,
                &login,
                account_host,
                budget,
                reached,
            )
            .await;
            checks.extend(found);
        }
    }
}

async fn dns(
    login: &Login,
    timeout: Duration,
    checks: &mut Vec<Check>,
) -> Option<Vec<std::net::SocketAddr>> {
    let lookup = lookup_host((login.host.as_str(), login.port));
    match tokio::time::timeout(timeout, lookup).await {
        Ok(Ok(addresses)) => {
            let addresses: Vec<_> = addresses.collect();
            if addresses.is_empty() {
                checks.push(Check::fail(
                    check::DNS,
                    format!("`{}` resolves to no address", login.host),
                    DNS_FIX,
                ));
                return None;
            }
            let shown: Vec<String> = addresses.iter().map(|a| a.ip().to_string()).collect();
            checks.push(Check::pass(
                check::DNS,
                format!("`{}` resolves to {}", login.host, shown.join(", ")),
            ));
            Some(addresses)
        }
        Ok(Err(error)) => {
            checks.push(Check::fail(
                check::DNS,
                format!("`{}` does not resolve: {error}", login.host),
                DNS_FIX,
            ));
            None
        }
        Err(_) => {
            checks.push(Check::fail(
                check::DNS,
                format!(
                    "no DNS answer for `{}` within {} s",
                    login.host,
                    timeout.as_secs()
                ),
                DNS_FIX,
            ));
            None
        }
    }
}

const DNS_FIX: &str = "Check the secret's `host` (the database's endpoint), and that the \
                       function's VPC has DNS resolution (enableDnsSupport) and, for a private \
                       hosted zone, that the zone is associated with the VPC.";

async fn tcp(
    login: &Login,
    addresses: &[std::net::SocketAddr],
    timeout: Duration,
    checks: &mut Vec<Check>,
) -> bool {
    let mut failures = Vec::new();
    for address in addresses {
        match tokio::time::timeout(timeout, TcpStream::connect(address)).await {
            Ok(Ok(_stream)) => {
                checks.push(Check::pass(
                    check::TCP,
                    format!("connected to {address} ({}:{})", login.host, login.port),
                ));
                return true;
            }
            Ok(Err(error)) => failures.push(format!("{address}: {error}")),
            Err(_) => failures.push(format!(
                "{address}: no answer within {} s",
                timeout.as_secs()
            )),
        }
    }
    checks.push(Check::fail(
        check::TCP,
        format!(
            "cannot connect to port {}: {}",
            login.port,
            failures.join("; ")
        ),
        format!(
            "Allow TCP {} from the function's security group: its egress rule and the \
             database's security group ingress (and the subnets' network ACLs); check the \
             secret's `port`.",
            login.port
        ),
    ));
    false
}

fn login_fix(error: &RotationError) -> String {
    login_fix_of(error.kind())
}

fn login_fix_of(kind: &str) -> String {
    match kind {
        "DatabaseTlsError" => "Attach the driver layer with the RDS CA bundle (or set \
                               DB_CA_BUNDLE), and use the database's endpoint as `host`: the \
                               certificate must name it (not an IP address or a CNAME of your \
                               own)."
            .into(),
        "LoginRefused" => "The server refused the login for another reason than the \
                           password: see the detail (an expired or locked account, a pg_hba \
                           or REQUIRE rule, a connection limit)."
            .into(),
        "DatabaseUnreachable" | "DatabaseTimeout" => "Check the network path and the \
                                                      database's state."
            .into(),
        _ => "See the detail.".into(),
    }
}

/// Secrets Manager's view: rotation on, with this function.
fn rotation_settings(details: &SecretDetails, function_arn: Option<&str>) -> Check {
    let configured = details.rotation_lambda_arn.as_deref();
    let this = function_arn.map(unqualified_function_arn);
    match (details.rotation_enabled, configured, this) {
        (Some(false) | None, _, _) => Check::fail(
            check::ROTATION_SETTINGS,
            "rotation is not enabled on the secret",
            "Deploy the stack's rotation schedule for this secret, or run `aws secretsmanager \
             rotate-secret` with this function's ARN and a schedule.",
        ),
        (Some(true), Some(configured), Some(this))
            if unqualified_function_arn(configured) != this =>
        {
            Check::fail(
                check::ROTATION_SETTINGS,
                format!("the secret is rotated by another function, `{configured}`"),
                "Point the secret's rotation at this function (the stack's rotation schedule \
                 does), or run the preflight of the function that rotates it.",
            )
        }
        (Some(true), configured, _) => Check::pass(
            check::ROTATION_SETTINGS,
            match (configured, &details.next_rotation) {
                (Some(arn), Some(next)) => format!(
                    "rotation is enabled with `{arn}`; next rotation {}",
                    rfc3339(next)
                ),
                (Some(arn), None) => format!("rotation is enabled with `{arn}`"),
                (None, _) => "rotation is enabled".into(),
            },
        ),
    }
}

/// A rotation left half done: an AWSPENDING on another version than AWSCURRENT's.
async fn pending_version<A: SecretAdmin>(
    details: &SecretDetails,
    admin: &A,
    secret: &str,
) -> Check {
    let current = details
        .versions
        .iter()
        .find(|(_, stages)| stages.iter().any(|s| s == AWSCURRENT))
        .map(|(id, _)| id.as_str());
    let pending = details
        .versions
        .iter()
        .find(|(_, stages)| stages.iter().any(|s| s == AWSPENDING))
        .map(|(id, _)| id.as_str());
    match pending {
        Some(pending) if Some(pending) != current => {
            let created = admin
                .versions(secret)
                .await
                .ok()
                .and_then(|versions| versions.into_iter().find(|v| v.id == pending))
                .and_then(|v| v.created)
                .map(|d| format!(", created {}", rfc3339(&d)))
                .unwrap_or_default();
            Check::fail(
                check::PENDING_VERSION,
                format!(
                    "version {pending} is AWSPENDING{created}: a rotation started and did not \
                     finish, and Secrets Manager will not start another until it does"
                ),
                "If no rotation is running now, invoke the function with {\"Action\": \
                 \"recover\", \"SecretId\": ...} to see the safe action, then again with \
                 \"Apply\": true.",
            )
        }
        _ => Check::pass(check::PENDING_VERSION, "no rotation is half done"),
    }
}

#[allow(clippy::too_many_arguments)]
async fn alternating_checks<S: SecretStore, C: Connector, A: SecretStore>(
    rotator: &Rotator<S, C>,
    admin: &A,
    secret: &str,
    master_arn: &str,
    login: &Login,
    login_account_host: Result<Option<String>, RotationError>,
    budget: Option<&LoginBudget>,
    reached: &mut Reached,
) -> Vec<Check> {
    let partner = partner_username(&login.username);
    let mut checks = vec![match login
        .engine
        .username_fits(&partner, rotator.config.mysql_max_user_length)
    {
        Ok(()) => Check::pass(
            check::PARTNER_NAME,
            format!("the alternate user is `{partner}`"),
        ),
        Err((length, limit)) => Check::fail(
            check::PARTNER_NAME,
            format!(
                "the alternate user `{partner}` is {length} characters; {} allows {limit}",
                login.engine.name()
            ),
            login.engine.username_hint(),
        ),
    }];

    let master = match alternating::master_login(
        admin,
        rotator.rds.as_deref(),
        &rotator.config,
        secret,
        master_arn,
        login,
    )
    .await
    {
        Ok(master) => {
            checks.push(Check::pass(
                check::MASTER_SECRET,
                format!(
                    "`{master_arn}` names `{}` at {}:{}",
                    master.username, master.host, master.port
                ),
            ));
            master
        }
        Err(error) => {
            checks.push(Check::fail(
                check::MASTER_SECRET,
                error.to_string(),
                "Point `masterarn` at the secret of the database's master user: one with its \
                 own host (the same database), or the secret RDS manages for it.",
            ));
            return checks;
        }
    };

    reached.master = Some(master.clone());
    // The read-only subset: the master's session is the run's, shared; nothing is rehearsed,
    // so the user's account host is not needed and the user does not log in a second time.
    if let Some(budget) = budget {
        checks.push(match budget.shared(&rotator.connector, &master).await {
            Earlier::Accepted(_) => Check::pass(
                check::MASTER_LOGIN,
                format!("the master secret logs in as `{}`", master.username),
            ),
            other => earlier_check(
                check::MASTER_LOGIN,
                "the master secret",
                &master.username,
                &other,
            ),
        });
        return checks;
    }
    // The template's account, read where the master acts (as a rotation does), never at the
    // host the secret names: from the login above when that was the master's endpoint.
    let account_host =
        if alternating::same_endpoint(&alternating::on_master_endpoint(login, &master), login) {
            login_account_host
        } else {
            rotator
                .prove_where_master_acts(secret, login, &master)
                .await
        };
    let account_host = match account_host {
        Ok(host) => host,
        Err(error) => {
            checks.push(Check::fail(
                check::MASTER_SECRET,
                format!(
                    "AWSCURRENT must log in where the master acts ({}:{}): {error}",
                    master.host, master.port
                ),
                "Make the secret's user and password those of a user on the master's own \
                 database; the rotation proves them there before the master acts.",
            ));
            return checks;
        }
    };

    let mut session = match rotator.connector.login(&master).await {
        Ok(Some(session)) => {
            checks.push(Check::pass(
                check::MASTER_LOGIN,
                format!("the master secret logs in as `{}`", master.username),
            ));
            session
        }
        Ok(None) => {
            checks.push(Check::fail(
                check::MASTER_LOGIN,
                format!(
                    "the server refused the master secret's password for `{}`",
                    master.username
                ),
                "Put the master user's current password in the master secret.",
            ));
            return checks;
        }
        Err(error) => {
            checks.push(Check::fail(
                check::MASTER_LOGIN,
                error.to_string(),
                login_fix(&error),
            ));
            return checks;
        }
    };

    let rehearsal = session
        .rehearse_clone(&login.username, account_host.as_deref(), &partner)
        .await;
    session.close().await;
    match rehearsal {
        Ok(()) => {
            checks.push(Check::pass(
                check::MASTER_PRIVILEGES,
                format!(
                    "`{}` may create `{partner}` and give it `{}`'s privileges (rehearsed, \
                     nothing changed)",
                    master.username, login.username
                ),
            ));
            checks.push(Check::pass(
                check::PARTNER_OBJECTS,
                format!("`{partner}` holds nothing the pair does not share"),
            ));
        }
        Err(RotationError::UnsafePartner { user, problem }) => {
            checks.push(Check::pass(
                check::MASTER_PRIVILEGES,
                "the master user got as far as the partner's checks".to_string(),
            ));
            checks.push(Check::fail(
                check::PARTNER_OBJECTS,
                format!("`{user}` is not a safe partner: {problem}"),
                "Remove what the alternate user holds beyond the user (or drop it if nothing \
                 uses it), or rename the user; the rotation refuses to change it.",
            ));
        }
        Err(error) => {
            checks.push(Check::fail(
                check::MASTER_PRIVILEGES,
                error.to_string(),
                match login.engine.family() {
                    crate::secret::EngineFamily::Postgres => {
                        "Give the master user CREATEROLE and, on PostgreSQL 16 and later, ADMIN \
                         OPTION on the user's role (GRANT app TO master WITH ADMIN OPTION)."
                    }
                    crate::secret::EngineFamily::MySql => {
                        "Give the master user CREATE USER and the GRANT OPTION, and every \
                         privilege the user holds."
                    }
                },
            ));
        }
    }
    checks
}
