//! A logged-in session: the statements of every step (own password, the clone, the
//! retirement), the catalog reads they rest on, and the engine trait over them.

use super::*;

pub(super) struct PgSession {
    pub(super) client: Client,
    pub(super) connection: ConnectionTask,
    pub(super) host: String,
    pub(super) port: u16,
    pub(super) statement_timeout: Duration,
    /// The password this session logged in with, masked in any server text shown.
    pub(super) password: SecretString,
}

/// Whether an error message may be shown: not for statements that carry a password verifier,
/// whose text a server message could quote.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Message {
    Show,
    Withhold,
}

impl PgSession {
    pub(super) fn seconds(&self) -> u64 {
        StatementBound(self.statement_timeout).seconds()
    }

    pub(super) fn failure(
        &self,
        action: &'static str,
        error: &tokio_postgres::Error,
        message: Message,
    ) -> RotationError {
        let Some(db) = error.as_db_error() else {
            let detail = match message {
                Message::Show => server_text(&error_chain(error), &[self.password.expose_secret()]),
                Message::Withhold => "the connection failed while the statement ran".to_owned(),
            };
            return RotationError::Database {
                host: self.host.clone(),
                port: self.port,
                action,
                detail,
                hint: "",
            };
        };
        let code = db.code().code();
        let detail = match message {
            Message::Show => format!(
                "{} (SQLSTATE {code})",
                server_text(db.message(), &[self.password.expose_secret()])
            ),
            Message::Withhold => format!(
                "server error SQLSTATE {code} (message withheld: the statement carried a \
                 password verifier)"
            ),
        };
        match code {
            // lock_not_available (lock_timeout) and query_canceled (statement_timeout).
            "55P03" | "57014" => RotationError::DatabaseTimeout {
                host: self.host.clone(),
                port: self.port,
                action,
                seconds: self.seconds(),
                detail,
            },
            _ => RotationError::Database {
                host: self.host.clone(),
                port: self.port,
                action,
                detail,
                hint: if code == "42501" { PRIVILEGE_HINT } else { "" },
            },
        }
    }

    /// The client-side bound: the server's own bound plus a grace period.
    pub(super) async fn bounded<T>(
        &self,
        action: &'static str,
        message: Message,
        work: impl Future<Output = Result<T, tokio_postgres::Error>>,
    ) -> Result<T, RotationError> {
        match tokio::time::timeout(self.statement_timeout + BACKSTOP_GRACE, work).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(self.failure(action, &error, message)),
            Err(_) => Err(RotationError::DatabaseTimeout {
                host: self.host.clone(),
                port: self.port,
                action,
                seconds: self.seconds(),
                detail: "the server did not answer within the bound".into(),
            }),
        }
    }

    /// Runs statements without parameters (simple protocol).
    pub(super) async fn run(&self, sql: &str, action: &'static str) -> Result<(), RotationError> {
        self.bounded(action, Message::Show, self.client.batch_execute(sql))
            .await
    }

    /// Runs a statement that carries a password verifier: its error never quotes the server.
    pub(super) async fn run_secret(
        &self,
        sql: &str,
        action: &'static str,
    ) -> Result<(), RotationError> {
        self.bounded(action, Message::Withhold, self.client.batch_execute(sql))
            .await
    }

    /// A query with bind parameters.
    pub(super) async fn rows(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        action: &'static str,
    ) -> Result<Vec<Row>, RotationError> {
        self.bounded(action, Message::Show, self.client.query(sql, params))
            .await
    }

    /// A query that must return one row.
    pub(super) async fn row(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        action: &'static str,
    ) -> Result<Row, RotationError> {
        self.bounded(action, Message::Show, self.client.query_one(sql, params))
            .await
    }

    pub(super) fn database_error(&self, action: &'static str, detail: String) -> RotationError {
        RotationError::Database {
            host: self.host.clone(),
            port: self.port,
            action,
            detail,
            hint: "",
        }
    }

    /// A role's attributes, `None` when it does not exist.
    pub(super) async fn role(&self, name: &str) -> Result<Option<RoleInfo>, RotationError> {
        let rows = self
            .rows(
                "SELECT rolsuper, rolcreaterole, rolcreatedb, rolbypassrls, rolreplication, \
                 rolconnlimit, COALESCE(rolvaliduntil::pg_catalog.text, 'infinity'), \
                 rolcanlogin \
                 FROM pg_catalog.pg_roles \
                 WHERE rolname OPERATOR(pg_catalog.=) $1::pg_catalog.text",
                &[&name],
                "look up a role",
            )
            .await?;
        Ok(rows.first().map(|r| RoleInfo {
            superuser: r.get(0),
            createrole: r.get(1),
            createdb: r.get(2),
            bypassrls: r.get(3),
            replication: r.get(4),
            connection_limit: r.get(5),
            valid_until: r.get(6),
            can_login: r.get(7),
        }))
    }

    /// The roles `name` is a direct member of, with the membership's options (on 16+ a
    /// membership may have several rows, one per grantor, and holds what any of them grants;
    /// before 16 every membership may SET and INHERIT).
    pub(super) async fn memberships(
        &self,
        name: &str,
        version: i32,
    ) -> Result<Vec<Membership>, RotationError> {
        let options = if version >= 160000 {
            "pg_catalog.bool_or(m.set_option), pg_catalog.bool_or(m.inherit_option)"
        } else {
            "true, true"
        };
        let rows = self
            .rows(
                &format!(
                    "SELECT g.rolname::pg_catalog.text, pg_catalog.bool_or(m.admin_option), \
                     {options} \
                     FROM pg_catalog.pg_auth_members m \
                     JOIN pg_catalog.pg_roles g ON g.oid OPERATOR(pg_catalog.=) m.roleid \
                     JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) m.member \
                     WHERE r.rolname OPERATOR(pg_catalog.=) $1::pg_catalog.text \
                     GROUP BY g.rolname ORDER BY g.rolname"
                ),
                &[&name],
                "read role memberships",
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| Membership {
                role: r.get(0),
                admin: r.get(1),
                set: r.get(2),
                inherit: r.get(3),
            })
            .collect())
    }

    /// What the cluster records as depending on `name` (pg_shdepend covers every database and
    /// the shared catalogs): objects it owns, privileges granted to it (database ACLs
    /// included), policies naming it. Empty for a role that holds nothing of its own.
    pub(super) async fn dependencies(&self, name: &str) -> Result<Vec<String>, RotationError> {
        let rows = self
            .rows(
                "SELECT d.deptype::pg_catalog.text, pg_catalog.count(*)::pg_catalog.int8, \
                 COALESCE(pg_catalog.string_agg(DISTINCT \
                   COALESCE(db.datname::pg_catalog.text, '(cluster)'), ', '), '') \
                 FROM pg_catalog.pg_shdepend d \
                 LEFT JOIN pg_catalog.pg_database db ON db.oid OPERATOR(pg_catalog.=) d.dbid \
                 WHERE d.refclassid OPERATOR(pg_catalog.=) \
                       'pg_catalog.pg_authid'::pg_catalog.regclass::pg_catalog.oid \
                   AND d.refobjid OPERATOR(pg_catalog.=) (SELECT oid FROM pg_catalog.pg_roles \
                       WHERE rolname OPERATOR(pg_catalog.=) $1::pg_catalog.text) \
                 GROUP BY d.deptype ORDER BY d.deptype",
                &[&name],
                "read what the alternate user holds",
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| {
                let kind: String = r.get(0);
                let count: i64 = r.get(1);
                let where_: String = r.get(2);
                let what = match kind.as_str() {
                    "o" => "owns",
                    "a" => "is granted privileges on",
                    "r" => "is named in policies on",
                    "i" => "has initial privileges on",
                    _ => "is recorded as depending on",
                };
                format!("{what} {count} object(s) (in {where_})")
            })
            .collect())
    }

    /// A role's settings: (database name, "" for all databases) -> name -> stored value.
    pub(super) async fn settings(&self, name: &str) -> Result<Settings, RotationError> {
        let rows = self
            .rows(
                "SELECT COALESCE(d.datname::pg_catalog.text, ''), c.entry \
                 FROM pg_catalog.pg_db_role_setting s \
                 LEFT JOIN pg_catalog.pg_database d \
                   ON d.oid OPERATOR(pg_catalog.=) s.setdatabase \
                 CROSS JOIN LATERAL pg_catalog.unnest(s.setconfig) AS c(entry) \
                 WHERE s.setrole OPERATOR(pg_catalog.=) (SELECT oid FROM pg_catalog.pg_roles \
                       WHERE rolname OPERATOR(pg_catalog.=) $1::pg_catalog.text)",
                &[&name],
                "read role settings",
            )
            .await?;
        let mut settings = Settings::new();
        for row in &rows {
            let database: String = row.get(0);
            let entry: String = row.get(1);
            // Stored as `name=value`; a GUC name holds no `=`.
            if let Some((key, value)) = entry.split_once('=') {
                settings
                    .entry(database)
                    .or_default()
                    .insert(key.to_owned(), value.to_owned());
            }
        }
        Ok(settings)
    }

    /// Makes `target`'s settings those of `template`, except `role`, which stays `template`
    /// (the pair's marker: the clone's sessions act as the original).
    pub(super) async fn carry_settings(
        &self,
        template: &str,
        target: &str,
    ) -> Result<(), RotationError> {
        let mut wanted = self.settings(template).await?;
        for values in wanted.values_mut() {
            values.retain(|name, _| !name.eq_ignore_ascii_case("role"));
        }
        wanted
            .entry(String::new())
            .or_default()
            .insert("role".to_owned(), template.to_owned());
        let actual = self.settings(target).await?;
        let target_id = quote_identifier(target);
        let scope = |database: &str| {
            if database.is_empty() {
                String::new()
            } else {
                format!(" IN DATABASE {}", quote_identifier(database))
            }
        };
        for (database, values) in &wanted {
            for (name, value) in values {
                let have = actual.get(database).and_then(|v| v.get(name));
                if have == Some(value) {
                    continue;
                }
                let sql = format!(
                    "ALTER ROLE {target_id}{} SET {} TO {}",
                    scope(database),
                    quote_identifier(name),
                    setting_value(name, value)
                );
                self.run(
                    &sql,
                    "carry a setting of the user over to the alternate user",
                )
                .await
                .map_err(|e| name_setting(e, name, database))?;
            }
        }
        for (database, values) in &actual {
            for name in values.keys() {
                if wanted.get(database).is_some_and(|v| v.contains_key(name)) {
                    continue;
                }
                let sql = format!(
                    "ALTER ROLE {target_id}{} RESET {}",
                    scope(database),
                    quote_identifier(name)
                );
                self.run(&sql, "remove a setting the user does not have")
                    .await
                    .map_err(|e| name_setting(e, name, database))?;
            }
        }
        Ok(())
    }

    /// Gives `target` the login attributes of `template` that membership does not carry:
    /// CONNECTION LIMIT, VALID UNTIL and REPLICATION apply to the login role itself, while
    /// CREATEDB and BYPASSRLS follow the current role, which the clone's `role` setting makes
    /// the original.
    pub(super) async fn carry_attributes(
        &self,
        template: &str,
        from: &RoleInfo,
        target: &str,
        to: &RoleInfo,
        master: &Master,
    ) -> Result<(), RotationError> {
        let target_id = quote_identifier(target);
        if from.replication != to.replication {
            // Before PostgreSQL 16 only a superuser may change REPLICATION; from 16 a
            // CREATEROLE user that has REPLICATION itself may.
            if !(master.superuser || master.version >= 160000 && master.replication) {
                return Err(self.database_error(
                    "carry the user's REPLICATION attribute over to the alternate user",
                    format!(
                        "`{template}` has {}REPLICATION and `{target}` does not match, and the \
                         master user `{}` may not change REPLICATION (it takes SUPERUSER, or on \
                         PostgreSQL 16+ REPLICATION itself); change it by hand",
                        if from.replication { "" } else { "NO" },
                        master.name
                    ),
                ));
            }
            let attribute = if from.replication {
                "REPLICATION"
            } else {
                "NOREPLICATION"
            };
            self.run(
                &format!("ALTER ROLE {target_id} WITH {attribute}"),
                "carry the user's REPLICATION attribute over to the alternate user",
            )
            .await?;
        }
        if from.connection_limit != to.connection_limit {
            self.run(
                &format!(
                    "ALTER ROLE {target_id} WITH CONNECTION LIMIT {}",
                    from.connection_limit
                ),
                "carry the user's CONNECTION LIMIT over to the alternate user",
            )
            .await?;
        }
        if from.valid_until != to.valid_until {
            self.run(
                &format!(
                    "ALTER ROLE {target_id} WITH VALID UNTIL {}",
                    quote_literal(&from.valid_until)
                ),
                "carry the user's VALID UNTIL over to the alternate user",
            )
            .await?;
        }
        Ok(())
    }

    /// Who the session is (its login user, the role it acts as) and the server's version
    /// number, which the clone and the retirement check a partner against.
    async fn identity(&self) -> Result<(String, String, i32), RotationError> {
        let row = self
            .row(
                "SELECT session_user::pg_catalog.text, current_user::pg_catalog.text, \
                 pg_catalog.current_setting('server_version_num')::pg_catalog.int4",
                &[],
                "read the session's user",
            )
            .await?;
        Ok((row.get(0), row.get(1), row.get(2)))
    }

    /// Everything [`Session::clone_user`] does, inside the transaction it opened.
    pub(super) async fn clone_in_transaction(
        &self,
        template: &str,
        target: &str,
        verifier: &str,
    ) -> Result<(), RotationError> {
        let refuse = |problem: String| RotationError::UnsafePartner {
            user: target.to_owned(),
            problem,
        };
        let (session_user, current_user, version) = self.identity().await?;
        if target == session_user || target == current_user {
            return Err(refuse(format!(
                "`{target}` is the master user this function logs in as"
            )));
        }
        let master_info = self.role(&session_user).await?.ok_or_else(|| {
            self.database_error("read the master user", "it has no row in pg_roles".into())
        })?;
        let template_info = self.role(template).await?.ok_or_else(|| {
            self.database_error(
                "read the user",
                format!("`{template}` does not exist; AWSCURRENT names a user that is gone"),
            )
        })?;
        // A VALID UNTIL that has passed is never copied: the copy could not log in. (A
        // retirement is only ever on the previous user, the target here, never the template:
        // the target's is replaced by the template's below.)
        let expired: bool = self
            .row(
                "SELECT COALESCE(rolvaliduntil OPERATOR(pg_catalog.<) pg_catalog.now(), false) \
                 FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) $1::pg_catalog.text",
                &[&template],
                "read the user's VALID UNTIL",
            )
            .await?
            .get(0);
        if expired {
            return Err(RotationError::UnsafeTemplate {
                user: template.to_owned(),
                problem: format!(
                    "`{template}`'s VALID UNTIL has passed: it no longer logs in, and the \
                     function never copies an expiry that has passed (nor a retirement); set \
                     it to the date you mean (ALTER ROLE ... VALID UNTIL) or 'infinity'"
                ),
            });
        }
        let template_memberships = self.memberships(template, version).await?;
        let target_info = self.role(target).await?;
        let target_memberships = match target_info {
            Some(_) => self.memberships(target, version).await?,
            None => Vec::new(),
        };
        let plan = plan_partner(
            &[session_user.as_str(), current_user.as_str()],
            &RoleFacts {
                name: template,
                info: &template_info,
                memberships: &template_memberships,
            },
            target,
            target_info.as_ref().map(|info| RoleFacts {
                name: target,
                info,
                memberships: &target_memberships,
            }),
        )?;
        let master = Master {
            name: session_user,
            superuser: master_info.superuser,
            replication: master_info.replication,
            version,
        };
        let target_id = quote_identifier(target);
        let set_password = format!(
            "ALTER ROLE {target_id} WITH LOGIN PASSWORD {}",
            quote_literal(verifier)
        );
        let set_password = || self.run_secret(&set_password, "set the alternate user's password");
        match (plan, target_info) {
            (PartnerPlan::Create, _) | (_, None) => {
                // A new partner: created, made a member of the user and set to act as it,
                // with the user's login attributes and settings, in this one transaction.
                self.run_secret(
                    &format!(
                        "CREATE ROLE {target_id} WITH LOGIN PASSWORD {}",
                        quote_literal(verifier)
                    ),
                    "create the alternate user",
                )
                .await?;
                self.run(
                    &format!("GRANT {} TO {target_id}", quote_identifier(template)),
                    "grant the user's role to the alternate user",
                )
                .await?;
                let created = self.role(target).await?.ok_or_else(|| {
                    self.database_error("create the alternate user", "it is not in pg_roles".into())
                })?;
                self.carry_attributes(template, &template_info, target, &created, &master)
                    .await?;
                self.carry_settings(template, target).await
            }
            // The original: its privileges are the pair's. Its password changes (it already
            // logs in: a NOLOGIN original was refused), and its VALID UNTIL becomes the
            // user's, which ends a retirement (`retire_previous_after`) the original had as
            // the previous user; its settings stay its own.
            (PartnerPlan::Original, Some(target_info)) => {
                if target_info.valid_until != template_info.valid_until {
                    self.run(
                        &format!(
                            "ALTER ROLE {target_id} WITH VALID UNTIL {}",
                            quote_literal(&template_info.valid_until)
                        ),
                        "give the alternate user the user's VALID UNTIL",
                    )
                    .await?;
                }
                set_password().await
            }
            (PartnerPlan::Clone, Some(target_info)) => {
                // What the cluster records beyond the catalog rows the plan looked at.
                let held = self.dependencies(target).await?;
                if !held.is_empty() {
                    return Err(RotationError::UnsafePartner {
                        user: target.to_owned(),
                        problem: format!(
                            "`{target}` holds more than the pair shares: it {}",
                            held.join("; it ")
                        ),
                    });
                }
                self.carry_attributes(template, &template_info, target, &target_info, &master)
                    .await?;
                self.carry_settings(template, target).await?;
                set_password().await
            }
        }
    }
}

impl PgSession {
    /// Makes the session act as its login user again and checks that it is `username`.
    ///
    /// A role's `role` setting (or anything else) may have switched the session to another
    /// role. SET ROLE NONE (not RESET ROLE, which goes back to the setting) makes the current
    /// user the login user again, and the password statement names SESSION_USER: the role
    /// that authenticated, whatever the session did since.
    pub(super) async fn become_login_user(
        &self,
        username: &str,
        consequence: &str,
    ) -> Result<(), RotationError> {
        self.run("SET ROLE NONE", "switch back to the login user")
            .await?;
        let session_user: String = self
            .row(
                "SELECT session_user::pg_catalog.text",
                &[],
                "read the login user",
            )
            .await?
            .get(0);
        if session_user != username {
            return Err(self.database_error(
                "change the password",
                format!(
                    "the session's login user is `{session_user}`, not `{username}`; \
                     {consequence}"
                ),
            ));
        }
        Ok(())
    }
}

/// A time as a `timestamptz` literal's text, in UTC (`2026-12-05T21:00:00Z`).
pub(super) fn rotation_time(at: i64) -> String {
    let date = aws_smithy_types::DateTime::from_secs(at);
    date.fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_else(|_| "infinity".into())
}

impl PgSession {
    pub(super) async fn retire_in_transaction(
        &self,
        template: &str,
        target: &str,
        until: &str,
    ) -> Result<(), RotationError> {
        let refuse = |problem: String| RotationError::UnsafePartner {
            user: target.to_owned(),
            problem,
        };
        let (session_user, current_user, version) = self.identity().await?;
        if target == template || target == session_user || target == current_user {
            return Err(refuse(format!(
                "`{target}` is the current user or the master user; never retired"
            )));
        }
        let (Some(template_info), Some(target_info)) =
            (self.role(template).await?, self.role(target).await?)
        else {
            return Err(refuse(format!(
                "`{template}` or `{target}` does not exist; nothing to retire"
            )));
        };
        let template_memberships = self.memberships(template, version).await?;
        let target_memberships = self.memberships(target, version).await?;
        // The same test a rotation makes before it changes the partner: the pair's own user,
        // holding nothing more.
        plan_partner(
            &[session_user.as_str(), current_user.as_str()],
            &RoleFacts {
                name: template,
                info: &template_info,
                memberships: &template_memberships,
            },
            target,
            Some(RoleFacts {
                name: target,
                info: &target_info,
                memberships: &target_memberships,
            }),
        )?;
        let later: bool = self
            .row(
                "SELECT COALESCE(rolvaliduntil OPERATOR(pg_catalog.>) $2::pg_catalog.text::pg_catalog.timestamptz, true) \
                 FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) $1::pg_catalog.text",
                &[&target, &until],
                "read the previous user's VALID UNTIL",
            )
            .await?
            .get(0);
        if later {
            self.run(
                &format!(
                    "ALTER ROLE {} WITH VALID UNTIL {}",
                    quote_identifier(target),
                    quote_literal(until)
                ),
                "retire the previous user (VALID UNTIL)",
            )
            .await?;
        }
        Ok(())
    }
}

/// The SCRAM verifier of a random password no one will ever know, for rehearsals inside a
/// transaction that is always rolled back.
pub(super) fn throwaway_verifier() -> String {
    use rand::distr::{Alphanumeric, SampleString};
    let password = Alphanumeric.sample_string(&mut rand::rng(), 32);
    postgres_protocol::password::scram_sha_256(password.as_bytes())
}

#[async_trait]
impl Session for PgSession {
    async fn set_own_password(
        &mut self,
        username: &str,
        password: &SecretString,
    ) -> Result<(), RotationError> {
        self.become_login_user(username, "no password was changed")
            .await?;
        let verifier =
            postgres_protocol::password::scram_sha_256(password.expose_secret().as_bytes());
        self.run_secret(
            &format!(
                "ALTER ROLE SESSION_USER WITH PASSWORD {}",
                quote_literal(&verifier)
            ),
            "change the password",
        )
        .await
    }

    async fn account_host(&mut self) -> Result<Option<String>, RotationError> {
        Ok(None)
    }

    async fn rehearse_own_password(&mut self, username: &str) -> Result<(), RotationError> {
        self.become_login_user(username, "a rotation would refuse to change the password")
            .await?;
        let verifier = throwaway_verifier();
        self.run("BEGIN", "start a transaction").await?;
        let result = self
            .run_secret(
                &format!(
                    "ALTER ROLE SESSION_USER WITH PASSWORD {}",
                    quote_literal(&verifier)
                ),
                "change the password",
            )
            .await;
        // Always undone; should ROLLBACK itself fail, closing the session aborts the
        // transaction.
        let undone = self.run("ROLLBACK", "roll back the rehearsal").await;
        result.and(undone)
    }

    async fn rehearse_clone(
        &mut self,
        template: &str,
        _host: Option<&str>,
        target: &str,
    ) -> Result<(), RotationError> {
        let verifier = throwaway_verifier();
        self.run("BEGIN", "start a transaction").await?;
        let result = self.clone_in_transaction(template, target, &verifier).await;
        let undone = self.run("ROLLBACK", "roll back the rehearsal").await;
        result.and(undone)
    }

    /// The pair shares one set of privileges: the user that existed first (the template of the
    /// first rotation) keeps them, and the other is made a member of it whose sessions start
    /// with `SET ROLE` to it. Whatever either user creates is then owned by the first, so tables
    /// created by `name_clone` stay usable by `name` and the other way round, and a grant added
    /// to the first later reaches both without a rotation.
    ///
    /// Everything runs in one transaction: the checks see one state, a refusal or a failure
    /// changes nothing, and a new partner never exists half made (a member without its `role`
    /// setting).
    ///
    /// On PostgreSQL 16+ the master needs ADMIN OPTION on the user's role to grant it; a role
    /// it creates is granted back to it with ADMIN OPTION, which lets it change that role
    /// later.
    async fn clone_user(
        &mut self,
        template: &str,
        _host: Option<&str>,
        target: &str,
        password: &SecretString,
    ) -> Result<(), RotationError> {
        let verifier =
            postgres_protocol::password::scram_sha_256(password.expose_secret().as_bytes());
        self.run("BEGIN", "start a transaction").await?;
        match self.clone_in_transaction(template, target, &verifier).await {
            Ok(()) => self.run("COMMIT", "commit the alternate user").await,
            Err(error) => {
                // Best effort: the session is closed right after, which rolls back anyway.
                let _ = self.run("ROLLBACK", "roll back").await;
                Err(error)
            }
        }
    }

    /// `VALID UNTIL` the retirement's time, in one transaction with the checks: `target`
    /// must be `template`'s partner (one a member of the other, as the pair's clone is), not
    /// the session's user, and hold nothing the pair does not share. A retirement already set
    /// sooner stands: a retry never extends the grace.
    async fn retire_partner(
        &mut self,
        template: &str,
        _host: Option<&str>,
        target: &str,
        at: i64,
    ) -> Result<(), RotationError> {
        let until = rotation_time(at);
        self.run("BEGIN", "start a transaction").await?;
        let result = self.retire_in_transaction(template, target, &until).await;
        match result {
            Ok(()) => self.run("COMMIT", "commit the retirement").await,
            Err(error) => {
                let _ = self.run("ROLLBACK", "roll back").await;
                Err(error)
            }
        }
    }

    async fn sessions_of(&mut self, user: &str) -> Result<Option<u64>, RotationError> {
        // Every role sees every session's user name in pg_stat_activity (only the query text
        // of other roles' sessions is hidden).
        let count: i64 = self
            .row(
                "SELECT pg_catalog.count(*) FROM pg_catalog.pg_stat_activity \
                 WHERE usename OPERATOR(pg_catalog.=) $1::pg_catalog.text",
                &[&user],
                "count the user's sessions",
            )
            .await?
            .get(0);
        Ok(Some(count.max(0) as u64))
    }

    async fn verify(&mut self) -> Result<(), RotationError> {
        self.row("SELECT 1", &[], "run a test query")
            .await
            .map(drop)
    }

    async fn close(self: Box<Self>) {
        let PgSession {
            client,
            mut connection,
            ..
        } = *self;
        // Dropping the client sends Terminate; the task then ends on its own. A server that
        // does not answer is cut off by the abort in ConnectionTask's drop.
        drop(client);
        let _ = tokio::time::timeout(Duration::from_secs(1), &mut connection.0).await;
    }
}
