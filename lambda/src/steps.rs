//! The four rotation steps, and the guard that runs before each.
//!
//! Every step is written to be run again with the same token after a crash at any point: it
//! first looks at what is already done (a pending value stored, a password already set, a stage
//! already moved) and only then acts. setSecret never tries a password it does not expect to
//! work: it logs in with AWSCURRENT first, so the happy path makes no failed login (MySQL 8 can
//! lock an account after failed logins), and falls back to AWSPENDING (a retried step) and then
//! AWSPREVIOUS only when AWSCURRENT is refused.
//!
//! Before anything else, the secret is admitted ([`crate::settings`]): the stack's settings say
//! whether this function rotates it, with which strategy and which master; a secret it does not
//! configure, a master secret, or a secret another function rotates is refused before any value
//! is read or any login is made.
//!
//! With alternating users the pending value names the other user of the pair, and setSecret
//! acts as the master user to give that user the current user's privileges and the new
//! password. The current user is never touched, so the credential applications hold keeps
//! working until the rotation after next.
//!
//! Once finishSecret has moved AWSCURRENT (or finds it already moved, a retry), the applications
//! the stack lists for the secret are refreshed ([`crate::refresh`]); that never fails the step.

use secrecy::SecretString;
use tracing::{Instrument, info, info_span, warn};

use crate::alternating::{self, master_error, partner_username};
use crate::config::{Config, StrategySetting};
use crate::db::Connector;
use crate::error::RotationError;
use crate::event::{RotationEvent, Step};
use crate::rds::RdsDirectory;
use crate::refresh::{RefreshPolicy, RefreshReport, Refresher};
use crate::secret::{Login, SecretValue};
use crate::settings::Admitted;
use crate::store::{AWSCURRENT, AWSPENDING, AWSPREVIOUS, SecretMetadata, SecretStore, Staged};

/// How a secret is rotated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Strategy {
    /// The user changes its own password.
    SingleUser,
    /// A master user keeps two users and changes the one not in use.
    AlternatingUsers { master_arn: String },
}

/// Runs rotation steps against a secret store and databases.
#[derive(Debug)]
pub struct Rotator<S, C> {
    pub(crate) store: S,
    pub(crate) connector: C,
    pub(crate) config: Config,
    /// Finds the database of an RDS-managed master secret.
    pub(crate) rds: Option<Box<dyn RdsDirectory>>,
    /// This function's ARN, once an invocation has told it (see [`Rotator::know_function_arn`]).
    pub(crate) function_arn: std::sync::OnceLock<String>,
    /// Refreshes the applications a secret's settings list, after finishSecret
    /// ([`crate::refresh`]).
    pub(crate) refresher: Option<std::sync::Arc<dyn Refresher>>,
    pub(crate) refresh_policy: RefreshPolicy,
    /// Seconds since the epoch, now: where a retirement's grace starts (see
    /// [`Rotator::with_clock`]).
    pub(crate) clock: fn() -> i64,
}

/// What a step's metric line says about it (see [`crate::metrics`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepOutcome {
    pub secret_name: String,
    pub strategy: &'static str,
    pub duration: std::time::Duration,
    /// What finishSecret's refresh of the secret's applications did, when it has any.
    pub refresh: Option<RefreshReport>,
}

impl<S: SecretStore, C: Connector> Rotator<S, C> {
    pub fn new(store: S, connector: C, config: Config) -> Self {
        Self {
            store,
            connector,
            config,
            rds: None,
            function_arn: std::sync::OnceLock::new(),
            refresher: None,
            refresh_policy: RefreshPolicy::default(),
            clock: crate::metrics::now_secs,
        }
    }

    /// Measures the retirement's grace (`retire_previous_after`) with `clock` instead of the
    /// system's: for the protocol model, which must replay every run to the same state.
    pub fn with_clock(mut self, clock: fn() -> i64) -> Self {
        self.clock = clock;
        self
    }

    /// Tells the rotator this function's ARN (Lambda's context has it with each invocation),
    /// so a secret whose rotation function is another function is refused. The first ARN
    /// told is kept: an instance serves one function.
    pub fn know_function_arn(&self, arn: &str) {
        let _ = self.function_arn.get_or_init(|| arn.to_owned());
    }

    /// Admits `secret` for a step or an operator action, or says why the function may not act
    /// on it ([`crate::settings`]).
    pub(crate) fn admit(
        &self,
        secret: &str,
        arn: Option<&str>,
        rotation_function: Option<&str>,
    ) -> Result<Admitted<'_>, RotationError> {
        self.config.settings.admit(
            secret,
            arn,
            rotation_function,
            self.function_arn.get().map(String::as_str),
        )
    }

    /// Lets alternating-users rotations find the database of an RDS-managed master secret.
    pub fn with_rds(mut self, rds: impl RdsDirectory + 'static) -> Self {
        self.rds = Some(Box::new(rds));
        self
    }

    /// Lets finishSecret refresh the applications a secret's settings list.
    pub fn with_refresher(mut self, refresher: impl Refresher + 'static) -> Self {
        self.refresher = Some(std::sync::Arc::new(refresher));
        self
    }

    /// The timeout of each refresh attempt and the pause before the second.
    pub fn with_refresh_policy(mut self, policy: RefreshPolicy) -> Self {
        self.refresh_policy = policy;
        self
    }

    /// Runs one step of one rotation.
    pub async fn handle(&self, event: &RotationEvent) -> Result<(), RotationError> {
        self.handle_measured(event).await.0
    }

    /// Runs one step and says, for its metrics, which secret (by name) and strategy it was and
    /// how long it took. The strategy comes from a value the step read (through a caching
    /// store, at no extra call), else from the function's pinned setting, else `unknown`.
    pub async fn handle_measured(
        &self,
        event: &RotationEvent,
    ) -> (Result<(), RotationError>, StepOutcome) {
        let started = std::time::Instant::now();
        let mut name = None;
        let mut versions = Vec::new();
        let mut configured = None;
        let mut refresh = None;
        let result = self
            .run_step(
                event,
                &mut name,
                &mut versions,
                &mut configured,
                &mut refresh,
            )
            .await;
        let read = versions
            .iter()
            .find_map(|version| self.store.cached(&event.secret_id, version));
        let strategy = match (
            configured,
            read.as_ref().map(|v| v.master_arn().is_some()),
            self.config.strategy,
        ) {
            (Some(strategy), _, _) => strategy.name(),
            (None, Some(true), _) | (None, None, StrategySetting::AlternatingUsers) => {
                "alternating-users"
            }
            (None, Some(false), _) | (None, None, StrategySetting::SingleUser) => "single-user",
            (None, None, StrategySetting::Auto) => "unknown",
        };
        let outcome = StepOutcome {
            secret_name: name.unwrap_or_else(|| secret_name_of(&event.secret_id).to_owned()),
            strategy,
            duration: started.elapsed(),
            refresh,
        };
        (result, outcome)
    }

    async fn run_step(
        &self,
        event: &RotationEvent,
        name: &mut Option<String>,
        versions: &mut Vec<String>,
        configured: &mut Option<rotation_contract::settings::Strategy>,
        refresh: &mut Option<RefreshReport>,
    ) -> Result<(), RotationError> {
        let span = info_span!(
            "rotation",
            secret = %event.secret_id,
            step = event.step.name(),
            version = %event.token,
        );
        async {
            async {
                let metadata = self.store.describe(&event.secret_id).await?;
                name.clone_from(&metadata.name);
                let admitted = self.admit(
                    &event.secret_id,
                    metadata.arn.as_deref(),
                    metadata.rotation_lambda_arn.as_deref(),
                )?;
                if let Admitted::Configured(settings) = admitted {
                    *configured = Some(settings.strategy);
                }
                versions.push(event.token.clone());
                versions.extend(metadata.version_with_stage(AWSCURRENT).map(str::to_owned));
                if guard(&metadata, event)? == Guard::AlreadyCurrent {
                    if event.step == Step::Finish {
                        // A retried finishSecret: the first moved AWSCURRENT and may have
                        // ended before its refresh (see crate::refresh) or its retirement of
                        // the previous user did. The applications first: they need the new
                        // value before the old one stops working.
                        *refresh = self.refresh_applications(event, admitted).await;
                    }
                    if event.step == Step::Finish && retirement(admitted).is_some() {
                        // A retried finishSecret: the retirement may not have happened.
                        let current = self
                            .required(&event.secret_id, Staged::Version(&event.token, AWSCURRENT))
                            .await?;
                        let previous = match metadata.version_with_stage(AWSPREVIOUS) {
                            Some(id) => {
                                self.store
                                    .get(&event.secret_id, Staged::Version(id, AWSPREVIOUS))
                                    .await?
                            }
                            None => None,
                        };
                        return self
                            .retire_previous(&event.secret_id, admitted, &current, previous)
                            .await;
                    }
                    info!("version is already AWSCURRENT; nothing more to do");
                    return Ok(());
                }
                match event.step {
                    Step::Create => self.create_secret(event, admitted).await,
                    Step::Set => self.set_secret(event, admitted).await,
                    Step::Test => self.test_secret(event).await,
                    Step::Finish => {
                        self.finish_secret(event, &metadata, admitted).await?;
                        *refresh = self.refresh_applications(event, admitted).await;
                        Ok(())
                    }
                }
            }
            .await
            // Inside the span: the failure's line carries the secret, step and version.
            .inspect_err(|error| warn!(kind = error.kind(), %error, "step failed"))
        }
        .instrument(span)
        .await
    }

    async fn create_secret(
        &self,
        event: &RotationEvent,
        admitted: Admitted<'_>,
    ) -> Result<(), RotationError> {
        let secret = &event.secret_id;
        // The value is written first and read back only when the version already holds one:
        // Secrets Manager never changes a version's value (ResourceExistsException), so a
        // retried or concurrent createSecret that got there first keeps its value, and the
        // happy path saves the read.
        let current = self.required(secret, Staged::Stage(AWSCURRENT)).await?;
        let login = self.login_of(secret, AWSCURRENT, &current)?;
        let strategy = self.strategy(secret, admitted, &current)?;
        let password = self.config.password.generate(login.engine.family())?;
        let pending = match &strategy {
            Strategy::SingleUser => current.with_password(&password),
            Strategy::AlternatingUsers { .. } => {
                let other = partner_username(&login.username);
                login
                    .engine
                    .username_fits(&other, self.config.mysql_max_user_length)
                    .map_err(|(length, limit)| RotationError::UsernameTooLong {
                        secret: secret.to_owned(),
                        user: other.clone(),
                        length,
                        engine: login.engine.name(),
                        limit,
                        hint: login.engine.username_hint(),
                    })?;
                current
                    .with_password(&password)
                    .with_field("username", &other)
            }
        };
        match self
            .store
            .put_pending(
                secret,
                &event.token,
                &pending,
                event.rotation_token.as_deref(),
            )
            .await
        {
            Ok(()) => {
                info!(
                    user = pending.str_field("username").unwrap_or_default(),
                    strategy = ?strategy,
                    "stored a new AWSPENDING value"
                );
                Ok(())
            }
            Err(error) if error.is_version_taken() => {
                // Read back, so a warm instance holds the value that stands, not the one it
                // generated.
                self.required(secret, Staged::Version(&event.token, AWSPENDING))
                    .await?;
                info!("AWSPENDING value already stored for this version; it stands");
                Ok(())
            }
            Err(error) => Err(error),
        }
    }

    async fn set_secret(
        &self,
        event: &RotationEvent,
        admitted: Admitted<'_>,
    ) -> Result<(), RotationError> {
        let secret = &event.secret_id;
        let pending_value = self
            .required(secret, Staged::Version(&event.token, AWSPENDING))
            .await?;
        let current_value = self.required(secret, Staged::Stage(AWSCURRENT)).await?;
        let pending = self.login_of(secret, AWSPENDING, &pending_value)?;
        let current = self.login_of(secret, AWSCURRENT, &current_value)?;
        match self.strategy(secret, admitted, &current_value)? {
            Strategy::SingleUser => self.set_own_password(secret, pending, current).await,
            Strategy::AlternatingUsers { master_arn } => {
                self.set_alternate_user(secret, &master_arn, pending, current)
                    .await
            }
        }
    }

    /// Single user: the user changes its own password.
    async fn set_own_password(
        &self,
        secret: &str,
        pending: Login,
        current: Login,
    ) -> Result<(), RotationError> {
        same_identity(secret, &pending, &current, &current.username, AWSCURRENT)?;

        let mut tried = vec![AWSCURRENT];
        if self.change_password_as(&current, &pending.password).await? {
            info!(user = %pending.username, "logged in with AWSCURRENT and set the AWSPENDING password");
            return Ok(());
        }
        info!("AWSCURRENT does not log in; checking whether AWSPENDING is already set");
        tried.push(AWSPENDING);
        if let Some(session) = self.connector.login(&pending).await? {
            session.close().await;
            info!("AWSPENDING already logs in (an earlier setSecret got this far); nothing to do");
            return Ok(());
        }
        if let Some(previous_value) = self.store.get(secret, Staged::Stage(AWSPREVIOUS)).await? {
            let previous = self.login_of(secret, AWSPREVIOUS, &previous_value)?;
            same_identity(secret, &pending, &previous, &previous.username, AWSPREVIOUS)?;
            tried.push(AWSPREVIOUS);
            if self
                .change_password_as(&previous, &pending.password)
                .await?
            {
                info!(user = %pending.username, "logged in with AWSPREVIOUS and set the AWSPENDING password");
                return Ok(());
            }
        }
        Err(RotationError::NoWorkingCredential {
            secret: secret.to_owned(),
            host: pending.host,
            port: pending.port,
            user: pending.username,
            tried: tried.join(", "),
        })
    }

    /// Logs in with `login` and changes that user's password to `password`. `Ok(false)` when the
    /// server refuses the login, so the caller may try another credential.
    async fn change_password_as(
        &self,
        login: &Login,
        password: &SecretString,
    ) -> Result<bool, RotationError> {
        let Some(mut session) = self.connector.login(login).await? else {
            return Ok(false);
        };
        let result = session.set_own_password(&login.username, password).await;
        session.close().await;
        result.map(|()| true)
    }

    /// Alternating users: the master user gives the other user of the pair the current user's
    /// privileges and the pending password. The current user is never changed, so AWSCURRENT
    /// (AWSPREVIOUS after finishSecret) keeps working until the next rotation. AWSCURRENT is
    /// proven on the master's own endpoint before the master acts there.
    async fn set_alternate_user(
        &self,
        secret: &str,
        master_arn: &str,
        pending: Login,
        current: Login,
    ) -> Result<(), RotationError> {
        let partner = partner_username(&current.username);
        same_identity(secret, &pending, &current, &partner, AWSCURRENT)?;
        let master = alternating::master_login(
            &self.store,
            self.rds.as_deref(),
            &self.config,
            secret,
            master_arn,
            &pending,
        )
        .await?;
        // Prove the secret's own credential is real, where the master will act, before acting
        // with the master's.
        let account_host = self
            .prove_where_master_acts(secret, &current, &master)
            .await?;

        let Some(mut session) = self.connector.login(&master).await? else {
            return Err(master_error(
                secret,
                master_arn,
                format!(
                    "its credential does not log in to {}:{} as `{}`; put the master user's current \
                 password in it",
                    master.host, master.port, master.username
                ),
            ));
        };
        let result = session
            .clone_user(
                &current.username,
                account_host.as_deref(),
                &pending.username,
                &pending.password,
            )
            .await;
        session.close().await;
        result?;
        info!(
            user = %pending.username,
            template = %current.username,
            master = %master.username,
            "the master user gave the alternate user the current user's privileges and the AWSPENDING password"
        );
        Ok(())
    }

    /// Logs in with `current` on the master's endpoint (engine, host, port, TLS) and reads the
    /// account host of that login: the identity the master then copies. The secret's own host
    /// and port are never where the proof is made (see [`alternating::on_master_endpoint`]).
    pub(crate) async fn prove_where_master_acts(
        &self,
        secret: &str,
        current: &Login,
        master: &Login,
    ) -> Result<Option<String>, RotationError> {
        let proof = alternating::on_master_endpoint(current, master);
        let Some(mut session) = self.connector.login(&proof).await? else {
            return Err(RotationError::NoWorkingCredential {
                secret: secret.to_owned(),
                host: proof.host,
                port: proof.port,
                user: proof.username,
                tried: AWSCURRENT.into(),
            });
        };
        let account_host = session.account_host().await;
        session.close().await;
        info!(user = %proof.username, host = %proof.host, port = proof.port, "AWSCURRENT logs in on the master's endpoint");
        account_host
    }

    async fn test_secret(&self, event: &RotationEvent) -> Result<(), RotationError> {
        let secret = &event.secret_id;
        let pending_value = self
            .required(secret, Staged::Version(&event.token, AWSPENDING))
            .await?;
        let pending = self.login_of(secret, AWSPENDING, &pending_value)?;
        let Some(mut session) = self.connector.login(&pending).await? else {
            return Err(RotationError::TestFailed {
                secret: secret.to_owned(),
                host: pending.host,
                port: pending.port,
                user: pending.username,
            });
        };
        let result = session.verify().await;
        session.close().await;
        result?;
        info!(user = %pending.username, "AWSPENDING logs in on a new connection and runs a query");
        Ok(())
    }

    async fn finish_secret(
        &self,
        event: &RotationEvent,
        metadata: &SecretMetadata,
        admitted: Admitted<'_>,
    ) -> Result<(), RotationError> {
        // A version RotateSecret made but createSecret never filled (finishSecret invoked out
        // of order, by hand) would leave every application reading an empty AWSCURRENT. A warm
        // instance has the value cached from the earlier steps: no call.
        let pending = self
            .required(&event.secret_id, Staged::Version(&event.token, AWSPENDING))
            .await?;
        let from = metadata.version_with_stage(AWSCURRENT);
        // The value AWSCURRENT leaves, read before it moves, only when a retirement needs it.
        let previous = match (retirement(admitted), from) {
            (Some(_), Some(id)) => {
                self.store
                    .get(&event.secret_id, Staged::Version(id, AWSCURRENT))
                    .await?
            }
            _ => None,
        };
        self.store
            .promote(&event.secret_id, &event.token, from)
            .await?;
        info!(
            previous = from.unwrap_or("none"),
            "moved AWSCURRENT to this version"
        );
        self.retire_previous(&event.secret_id, admitted, &pending, previous)
            .await
    }

    /// `retire_previous_after` on PostgreSQL: once AWSCURRENT has moved, the master gives the
    /// previous user (AWSPREVIOUS's) `VALID UNTIL` now plus the grace; the next setSecret,
    /// which gives that user a new password, makes it log in again. Only ever the partner of
    /// the user `current` names, on the same endpoint: never the current user, never another
    /// one. MySQL and MariaDB have no such clause: the drift check locks the user once the
    /// grace has passed. A failure fails the step, whose retry (the version is then already
    /// AWSCURRENT) comes back here; the retirement never moves a later one sooner than set.
    async fn retire_previous(
        &self,
        secret: &str,
        admitted: Admitted<'_>,
        current: &SecretValue,
        previous: Option<SecretValue>,
    ) -> Result<(), RotationError> {
        let (Some((grace, master_arn)), Some(previous_value)) = (retirement(admitted), previous)
        else {
            return Ok(());
        };
        let current = self.login_of(secret, AWSCURRENT, current)?;
        if current.engine.family() != crate::secret::EngineFamily::Postgres {
            return Ok(());
        }
        let previous = self.login_of(secret, AWSPREVIOUS, &previous_value)?;
        let partner = partner_username(&current.username);
        if same_identity(secret, &previous, &current, &partner, AWSCURRENT).is_err() {
            warn!(
                previous = %previous.username,
                "AWSPREVIOUS is not the partner of AWSCURRENT's user on its endpoint; not retired"
            );
            return Ok(());
        }
        let master = alternating::master_login(
            &self.store,
            self.rds.as_deref(),
            &self.config,
            secret,
            master_arn,
            &current,
        )
        .await?;
        let Some(mut session) = self.connector.login(&master).await? else {
            return Err(master_error(
                secret,
                master_arn,
                format!(
                    "its credential does not log in to {}:{} as `{}`, so the previous user \
                     was not retired; put the master user's current password in it",
                    master.host, master.port, master.username
                ),
            ));
        };
        let at = (self.clock)().saturating_add(grace as i64);
        let result = session
            .retire_partner(&current.username, None, &previous.username, at)
            .await;
        session.close().await;
        result?;
        info!(
            user = %previous.username,
            grace_seconds = grace,
            "the previous user logs in until the grace ends (VALID UNTIL)"
        );
        Ok(())
    }

    /// Once AWSCURRENT is this version: refreshes the applications the stack lists for the
    /// secret (never those a secret's value names), without failing the step.
    async fn refresh_applications(
        &self,
        event: &RotationEvent,
        admitted: Admitted<'_>,
    ) -> Option<RefreshReport> {
        let Admitted::Configured(settings) = admitted else {
            return None;
        };
        if settings.after_rotation.is_empty() {
            return None;
        }
        let targets = crate::refresh::targets(&settings.after_rotation);
        let report = match &self.refresher {
            Some(refresher) => {
                crate::refresh::refresh_all(
                    std::sync::Arc::clone(refresher),
                    targets,
                    &event.token,
                    self.refresh_policy,
                )
                .await
            }
            // Wired in main; without it every target counts as failed, so the alarm says so.
            None => RefreshReport {
                outcomes: targets
                    .into_iter()
                    .map(|target| crate::refresh::TargetOutcome {
                        target,
                        attempts: 0,
                        result: Err("this instance has no ECS or Lambda client".into()),
                    })
                    .collect(),
            },
        };
        for outcome in &report.outcomes {
            let kind = outcome.target.kind.name();
            match &outcome.result {
                Ok(done) => info!(
                    kind,
                    target = %outcome.target.arn,
                    attempts = outcome.attempts,
                    already = *done == crate::refresh::Refreshed::AlreadyDone,
                    "refreshed an application after the rotation"
                ),
                Err(problem) => warn!(
                    kind,
                    target = %outcome.target.arn,
                    attempts = outcome.attempts,
                    %problem,
                    "could not refresh an application after the rotation; the rotation itself succeeded"
                ),
            }
        }
        Some(report)
    }

    /// Reads a staged value that the step cannot do without.
    async fn required(
        &self,
        secret: &str,
        which: Staged<'_>,
    ) -> Result<SecretValue, RotationError> {
        self.store
            .get(secret, which)
            .await?
            .ok_or_else(|| missing_stage(secret, which.stage()))
    }

    pub(crate) fn login_of(
        &self,
        secret: &str,
        stage: &str,
        value: &SecretValue,
    ) -> Result<Login, RotationError> {
        value
            .login(self.config.tls)
            .map_err(|source| RotationError::InvalidSecret {
                secret: secret.to_owned(),
                stage: stage.to_owned(),
                source,
            })
    }

    /// The strategy for an admitted secret: the stack's word where it configures the secret
    /// (a `masterarn` in the value must agree with it), else the value's own `masterarn`;
    /// either way within the function's pinned `ROTATION_STRATEGY`.
    pub(crate) fn strategy(
        &self,
        secret: &str,
        admitted: Admitted<'_>,
        current: &SecretValue,
    ) -> Result<Strategy, RotationError> {
        let strategy = match admitted {
            Admitted::Configured(settings) => configured_strategy(secret, settings, current)?,
            Admitted::FromSecrets => match current.master_arn() {
                Some(arn) => Strategy::AlternatingUsers {
                    master_arn: arn.to_owned(),
                },
                None => Strategy::SingleUser,
            },
        };
        match (self.config.strategy, &strategy) {
            (StrategySetting::SingleUser, Strategy::AlternatingUsers { .. }) => {
                Err(RotationError::Strategy(format!(
                    "secret `{secret}` rotates with alternating users but this function \
                     is pinned to `ROTATION_STRATEGY=single-user`; rotate it with a function \
                     set to `alternating-users` or `auto`"
                )))
            }
            (StrategySetting::AlternatingUsers, Strategy::SingleUser) => {
                Err(RotationError::Strategy(format!(
                    "secret `{secret}` rotates with a single user but this function is \
                     pinned to `ROTATION_STRATEGY=alternating-users`; rotate it with a function \
                     set to `single-user` or `auto`"
                )))
            }
            _ => Ok(strategy),
        }
    }
}

/// The strategy the stack configures for `secret`. A `masterarn` in the value is the writer's
/// word and may only agree: naming another master, or any master for a single-user secret, is
/// refused rather than followed or silently ignored.
fn configured_strategy(
    secret: &str,
    settings: &rotation_contract::settings::SecretSettings,
    current: &SecretValue,
) -> Result<Strategy, RotationError> {
    use rotation_contract::settings::Strategy as Configured;
    let named = current.master_arn();
    match (
        settings.strategy,
        settings.master_secret_arn.as_deref(),
        named,
    ) {
        (Configured::SingleUser, _, Some(named)) => Err(RotationError::Strategy(format!(
            "secret `{secret}` names `masterarn` `{named}`, but the stack configures it \
             single-user: the stack, not the secret, chooses alternating users; remove \
             `masterarn` from the secret, or configure the database as alternating-users with \
             that master and deploy"
        ))),
        (Configured::SingleUser, _, None) => Ok(Strategy::SingleUser),
        (Configured::AlternatingUsers, Some(master), Some(named)) if named != master => {
            Err(RotationError::Strategy(format!(
                "secret `{secret}` names `masterarn` `{named}`, but the stack configures \
                 `{master}` as its master; put the configured master's ARN in `masterarn` (or \
                 remove the field), or change the config's master_secret_arn and deploy"
            )))
        }
        (Configured::AlternatingUsers, Some(master), _) => Ok(Strategy::AlternatingUsers {
            master_arn: master.to_owned(),
        }),
        (Configured::AlternatingUsers, None, _) => Err(RotationError::Strategy(format!(
            "the stack configures secret `{secret}` as alternating-users without a master \
             secret; set master_secret_arn in the config and deploy"
        ))),
    }
}

/// The grace and master of a secret whose previous user is retired (`retire_previous_after`).
fn retirement<'a>(admitted: Admitted<'a>) -> Option<(u64, &'a str)> {
    match admitted {
        Admitted::Configured(settings) => Some((
            settings.retire_previous_after_seconds?,
            settings.master_secret_arn.as_deref()?,
        )),
        Admitted::FromSecrets => None,
    }
}

/// A stage a step (or a preflight) cannot do without has no value.
pub(crate) fn missing_stage(secret: &str, stage: &'static str) -> RotationError {
    RotationError::MissingStage {
        secret: secret.to_owned(),
        stage: stage.to_owned(),
        hint: match stage {
            AWSPENDING => {
                "createSecret has not stored one for this version: start the rotation again."
            }
            _ => "Store the database credential as the secret's value first.",
        },
    }
}

/// A secret's name from its id: the ARN's resource part without the six random characters
/// Secrets Manager appends (`arn:...:secret:prod/app-AbCdEf` -> `prod/app`), or the id itself.
pub fn secret_name_of(id: &str) -> &str {
    match id.split_once(":secret:") {
        Some((_, resource)) => match resource.rsplit_once('-') {
            Some((name, suffix)) if suffix.len() == 6 && !name.is_empty() => name,
            _ => resource,
        },
        None => id,
    }
}

/// What the guard decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Guard {
    Proceed,
    AlreadyCurrent,
}

/// The checks AWS's own templates make before any step.
fn guard(metadata: &SecretMetadata, event: &RotationEvent) -> Result<Guard, RotationError> {
    // AWS's templates refuse only an explicit `RotationEnabled: false`; an answer without the
    // field goes on.
    if metadata.rotation_enabled == Some(false) {
        return Err(RotationError::RotationDisabled {
            secret: event.secret_id.clone(),
        });
    }
    let Some(stages) = metadata.stages_of(&event.token) else {
        return Err(RotationError::UnknownVersion {
            secret: event.secret_id.clone(),
            token: event.token.clone(),
        });
    };
    if stages.iter().any(|s| s == AWSCURRENT) {
        return Ok(Guard::AlreadyCurrent);
    }
    if !stages.iter().any(|s| s == AWSPENDING) {
        return Err(RotationError::NotPending {
            secret: event.secret_id.clone(),
            token: event.token.clone(),
            stages: if stages.is_empty() {
                "none".into()
            } else {
                stages.join(", ")
            },
        });
    }
    Ok(Guard::Proceed)
}

/// Refuses a pending value that would change another user than `expected_user`, or a user on
/// another engine, host or port than `existing`.
fn same_identity(
    secret: &str,
    pending: &Login,
    existing: &Login,
    expected_user: &str,
    stage: &'static str,
) -> Result<(), RotationError> {
    let mismatch = |field, pending: &str, expected: &str| RotationError::IdentityMismatch {
        secret: secret.to_owned(),
        field,
        pending: pending.to_owned(),
        stage,
        expected: expected.to_owned(),
    };
    if pending.engine.family() != existing.engine.family() {
        return Err(mismatch(
            "engine",
            pending.engine.name(),
            existing.engine.name(),
        ));
    }
    if !pending.host.eq_ignore_ascii_case(&existing.host) {
        return Err(mismatch("host", &pending.host, &existing.host));
    }
    if pending.port != existing.port {
        return Err(mismatch(
            "port",
            &pending.port.to_string(),
            &existing.port.to_string(),
        ));
    }
    if pending.username != expected_user {
        return Err(mismatch("username", &pending.username, expected_user));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::{Engine, Tls};

    fn event(token: &str) -> RotationEvent {
        RotationEvent {
            secret_id: "s".into(),
            token: token.into(),
            step: Step::Set,
            rotation_token: None,
        }
    }

    #[test]
    fn the_guard_refuses_only_an_explicit_rotation_disabled() {
        let mut metadata = SecretMetadata::default();
        metadata
            .versions
            .insert("t".into(), vec![AWSPENDING.to_owned()]);
        for (enabled, proceeds) in [(None, true), (Some(true), true), (Some(false), false)] {
            metadata.rotation_enabled = enabled;
            let outcome = guard(&metadata, &event("t"));
            assert_eq!(outcome.is_ok(), proceeds, "{enabled:?}");
            if !proceeds {
                assert_eq!(outcome.unwrap_err().kind(), "RotationDisabled");
            }
        }
    }

    fn login(engine: Engine, host: &str, user: &str) -> Login {
        Login {
            engine,
            host: host.into(),
            port: 5432,
            username: user.into(),
            password: SecretString::from("pw"),
            dbname: None,
            tls: Tls::VerifyFull,
        }
    }

    #[test]
    fn a_pending_value_may_not_change_another_user_host_or_engine() {
        let current = login(Engine::Postgres, "db.example", "app");
        let same = login(Engine::AuroraPostgresql, "DB.example", "app");
        assert!(same_identity("s", &same, &current, "app", AWSCURRENT).is_ok());
        let clone = login(Engine::Postgres, "db.example", "app_clone");
        assert!(same_identity("s", &clone, &current, "app_clone", AWSCURRENT).is_ok());

        for (pending, expected, field) in [
            (
                login(Engine::Postgres, "db.example", "admin"),
                "app",
                "username",
            ),
            (
                login(Engine::Postgres, "other.example", "app"),
                "app",
                "host",
            ),
            (login(Engine::Mysql, "db.example", "app"), "app", "engine"),
            (
                login(Engine::Postgres, "db.example", "app"),
                "app_clone",
                "username",
            ),
        ] {
            let error = same_identity("s", &pending, &current, expected, AWSCURRENT).unwrap_err();
            assert_eq!(error.kind(), "IdentityMismatch");
            assert!(
                error.to_string().contains(&format!("names {field}")),
                "{error}"
            );
        }
    }
}
