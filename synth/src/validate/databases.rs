//! The rules for `databases`, one method per rule.
//!
//! `Validator::database` lists the rules an entry must pass, in the order
//! their diagnostics are reported; `Validator::databases` runs the list-level
//! rule, then every entry through that list. A rule checks one thing, reports
//! through `Validator::err` and never stops the others, so a config with
//! several mistakes gets all of them in one run. Rules about several entries
//! (distinct names and secrets, one region) compare the entry with `Earlier`,
//! what the entries before it claimed. A new rule is one new method here and
//! one line in `Validator::database`.

use std::collections::HashMap;

use super::{Validator, is_name};
use crate::arn;
use crate::config::{RawDatabase, Strategy};
use crate::model::{AfterRotation, Database, pascal_case};
use crate::schedule;

/// Longest database name: it is embedded in logical IDs and resource names.
const NAME_MAX_LEN: usize = 32;

/// Most applications of one kind a database refreshes after a rotation. They
/// are refreshed concurrently inside finishSecret's invocation, through
/// control-plane APIs with low request rates (UpdateService,
/// UpdateFunctionConfiguration), and every one is an ARN in the role's policy,
/// whose size IAM limits: a longer list is a design to split, not a config.
pub const REFRESH_TARGETS_MAX: usize = 10;

/// One entry of `databases`, with what the rules and the model derive from it.
struct Entry<'a> {
    index: usize,
    raw: &'a RawDatabase,
    /// The name in PascalCase, the prefix of this database's logical IDs.
    logical_id: String,
    /// The configured port, or the engine's default.
    port: u16,
}

impl<'a> Entry<'a> {
    fn new(index: usize, raw: &'a RawDatabase) -> Self {
        Entry {
            index,
            raw,
            logical_id: pascal_case(&raw.name),
            port: raw.port.unwrap_or_else(|| raw.engine.default_port()),
        }
    }

    /// The diagnostic path of `key` in this entry, e.g. `databases[1].port`.
    fn at(&self, key: &str) -> String {
        format!("databases[{}].{key}", self.index)
    }

    /// The master secret when the strategy uses one. With `single-user` a
    /// master secret is a mistake of its own, so its value is not checked.
    fn used_master_secret(&self) -> Option<&'a str> {
        match self.raw.strategy {
            Strategy::AlternatingUsers => self.raw.master_secret_arn.as_deref(),
            Strategy::SingleUser => None,
        }
    }

    /// The model of this entry, as the template sees it.
    fn model(&self) -> Database {
        let d = self.raw;
        Database {
            name: d.name.clone(),
            logical_id: self.logical_id.clone(),
            secret_arn: d.secret_arn.clone(),
            engine: d.engine,
            port: self.port,
            strategy: d.strategy,
            master_secret_arn: d.master_secret_arn.clone(),
            kms_key_arn: d.kms_key_arn.clone(),
            master_kms_key_arn: d.master_kms_key_arn.clone(),
            schedule_expression: d.schedule.expression.trim().to_owned(),
            duration: d.schedule.duration.clone(),
            rotate_immediately: d.schedule.rotate_immediately,
            after_rotation: AfterRotation {
                ecs_services: d.after_rotation.ecs_services.clone(),
                lambda_functions: d.after_rotation.lambda_functions.clone(),
            },
            // Set by the `retire_previous_after` rule, once the value is known to be good.
            retire_previous_after_seconds: None,
        }
    }
}

/// What the entries before the current one claimed.
#[derive(Default)]
/// Maps, not lists: a config of 10,000 databases compares each entry with
/// every earlier one, which lists would make quadratic.
struct Earlier {
    /// Name of the entry that took each name and each logical ID, for entries
    /// whose name was valid and distinct.
    names: HashMap<String, String>,
    /// Entry name of each distinct secret ARN.
    secrets: HashMap<String, String>,
    /// Partition and region of the first well-formed secret ARN.
    region: Option<(String, String)>,
    /// Account of the first well-formed secret ARN: the stack's account.
    account: Option<String>,
}

impl Validator<'_> {
    pub(super) fn databases(&mut self, raw: &[RawDatabase]) -> Vec<Database> {
        self.at_least_one_database(raw);
        let mut earlier = Earlier::default();
        let models = raw
            .iter()
            .enumerate()
            .map(|(index, raw)| {
                let entry = Entry::new(index, raw);
                self.database(&entry, &mut earlier);
                entry.model()
            })
            .collect();
        for (index, raw) in raw.iter().enumerate() {
            self.master_secret_is_not_rotated_here(&Entry::new(index, raw), &earlier);
        }
        models
    }

    /// A used master secret is not rotated by another database of the stack:
    /// the function would change the admin's password as an ordinary user's,
    /// and the settings file the function reads refuses such a stack.
    /// Checked after every entry, so a later entry's secret counts too.
    fn master_secret_is_not_rotated_here(&mut self, d: &Entry<'_>, all: &Earlier) {
        let Some(master) = d.used_master_secret() else {
            return;
        };
        if master == d.raw.secret_arn {
            return; // master_secret_is_not_the_rotated_secret says it
        }
        if let Some(other) = all.secrets.get(master) {
            self.err(
                &d.at("master_secret_arn"),
                format!("the master secret is rotated by database `{other}` of this stack"),
                "give the admin user its own secret that no database of this config rotates (rotate it in another stack, or let RDS manage it)",
            );
        }
    }

    /// Every rule of one entry, in the order their diagnostics are reported.
    fn database(&mut self, d: &Entry<'_>, earlier: &mut Earlier) {
        self.name_is_valid(d);
        self.name_is_distinct(d, earlier);
        self.secret_arn_is_full(d);
        self.secret_is_rotated_once(d, earlier);
        self.secret_is_not_managed_by_rds(d);
        self.secrets_share_one_region(d, earlier);
        self.secrets_share_the_stack_account(d, earlier);
        self.port_is_not_zero(d);
        self.port_is_not_the_other_engines(d);
        self.alternating_users_has_master_secret(d);
        self.single_user_has_no_master_secret(d);
        self.master_secret_arn_is_full(d);
        self.master_secret_is_not_the_rotated_secret(d);
        self.kms_key_arn_is_a_key(d);
        self.master_kms_key_arn_is_a_key(d);
        self.master_kms_key_has_master_secret(d);
        self.schedule_is_accepted(d);
        self.after_rotation_lists_are_short(d);
        self.ecs_services_are_long_service_arns(d);
        self.lambda_functions_are_unqualified_function_arns(d);
        self.refresh_targets_are_in_the_stack_account_and_region(d, earlier);
        self.refresh_targets_are_listed_once(d);
    }

    /// The list is not empty: a stack without databases deploys a function
    /// that nothing ever invokes, which is a mistake, not a plan.
    fn at_least_one_database(&mut self, raw: &[RawDatabase]) {
        if raw.is_empty() {
            self.err(
                "databases",
                "no databases: the stack would rotate nothing",
                "list at least one database with `name`, `secret_arn`, `engine`, `strategy` and `schedule`",
            );
        }
    }

    /// The name is 1 to 32 lowercase letters, digits and single dashes,
    /// starting with a letter: it becomes the prefix of this database's
    /// logical IDs and part of resource names, which allow no more.
    fn name_is_valid(&mut self, d: &Entry<'_>) {
        if !is_name(&d.raw.name, NAME_MAX_LEN) {
            self.err(
                &d.at("name"),
                format!("database name `{}` cannot name resources", d.raw.name),
                "use 1 to 32 lowercase letters, digits and single dashes, starting with a letter, e.g. `orders`",
            );
        }
    }

    /// No earlier entry has the same name or the same logical ID (`db-1` and
    /// `db1` both give `Db1`): two databases would declare the same resources
    /// and CloudFormation would refuse the template. An invalid name was
    /// reported by `name_is_valid` and is not compared or recorded.
    fn name_is_distinct(&mut self, d: &Entry<'_>, earlier: &mut Earlier) {
        if !is_name(&d.raw.name, NAME_MAX_LEN) {
            return;
        }
        let clash = earlier
            .names
            .get(&d.raw.name)
            .or_else(|| earlier.names.get(&d.logical_id));
        if let Some(other) = clash {
            self.err(
                &d.at("name"),
                format!(
                    "database name `{}` clashes with `{other}` (logical ID `{}`)",
                    d.raw.name, d.logical_id
                ),
                "give each database a distinct name; names become CloudFormation logical IDs",
            );
        } else {
            // Names are lowercase and logical IDs start uppercase: one map holds both.
            earlier.names.insert(d.raw.name.clone(), d.raw.name.clone());
            earlier
                .names
                .insert(d.logical_id.clone(), d.raw.name.clone());
        }
    }

    /// `secret_arn` is a full secret ARN, with the 6-character suffix: the
    /// function's policy grants exactly the ARNs listed, and a name or a
    /// partial ARN would not match the secret.
    fn secret_arn_is_full(&mut self, d: &Entry<'_>) {
        self.secret_arn(&d.at("secret_arn"), &d.raw.secret_arn);
    }

    /// No earlier entry rotates the same secret: a secret has only one
    /// rotation schedule, and a second would fight the first.
    fn secret_is_rotated_once(&mut self, d: &Entry<'_>, earlier: &mut Earlier) {
        if let Some(other) = earlier.secrets.get(&d.raw.secret_arn) {
            self.err(
                &d.at("secret_arn"),
                format!("the secret is already rotated by database `{other}`"),
                "remove one of the two entries: a secret can have only one rotation schedule",
            );
        } else {
            earlier
                .secrets
                .insert(d.raw.secret_arn.clone(), d.raw.name.clone());
        }
    }

    /// The secret is in the partition and region of the first database's
    /// secret: a stack, its function and its rotation schedules live in one
    /// region. A malformed ARN was reported by `secret_arn_is_full` and is
    /// not compared.
    fn secrets_share_one_region(&mut self, d: &Entry<'_>, earlier: &mut Earlier) {
        let Some(a) = arn::secret(&d.raw.secret_arn) else {
            return;
        };
        let here = (a.partition.to_owned(), a.region.to_owned());
        match &earlier.region {
            None => earlier.region = Some(here),
            Some(first) if *first != here => self.err(
                &d.at("secret_arn"),
                format!(
                    "the secret is in region `{}`, the first database's secret in `{}`",
                    here.1, first.1
                ),
                "a stack lives in one region: put databases of another region in their own config",
            ),
            Some(_) => {}
        }
    }

    /// The secret is not one RDS manages: Secrets Manager refuses a rotation
    /// schedule on it (RDS rotates it itself), so the deploy would fail.
    fn secret_is_not_managed_by_rds(&mut self, d: &Entry<'_>) {
        if super::rds_managed(&d.raw.secret_arn) {
            self.err(
                &d.at("secret_arn"),
                "the secret is one RDS manages (`rds!...`): RDS rotates it, and Secrets Manager refuses another rotation schedule on it",
                "remove this database (set the rotation of an RDS-managed master secret with RDS), or name an application user's secret",
            );
        }
    }

    /// Every secret, rotated or master, is in the account of the first
    /// database's secret, which the template asserts is the stack's (`Rules`):
    /// the function's invoke permission, its audit and its role's grants reach
    /// this account's secrets only.
    fn secrets_share_the_stack_account(&mut self, d: &Entry<'_>, earlier: &mut Earlier) {
        let mut check = |key: &str, value: &str, earlier: &mut Earlier| {
            let Some(a) = arn::secret(value) else {
                return;
            };
            match &earlier.account {
                None => earlier.account = Some(a.account.to_owned()),
                Some(first) if first != a.account => self.err(
                    &d.at(key),
                    format!(
                        "the secret is in account `{}`, the first database's secret in `{first}`",
                        a.account
                    ),
                    "a stack rotates the secrets of its own account (Secrets Manager invokes the function with this account's permission, and the audit lists this account's secrets): deploy a stack in the other account for its secrets",
                ),
                Some(_) => {}
            }
        };
        check("secret_arn", &d.raw.secret_arn, earlier);
        if let Some(m) = d.used_master_secret() {
            check("master_secret_arn", m, earlier);
        }
        // The secrets' keys too: the role's decrypt grant on a key of another account does
        // nothing without that account's key policy, which this stack cannot write.
        for (key, value) in [
            ("kms_key_arn", d.raw.kms_key_arn.as_deref()),
            ("master_kms_key_arn", d.raw.master_kms_key_arn.as_deref()),
        ] {
            let (Some(k), Some(first)) = (value.and_then(arn::kms_key), &earlier.account) else {
                continue;
            };
            if k.account != first {
                self.err(
                    &d.at(key),
                    format!(
                        "the key is in account `{}`, the secrets in `{first}`",
                        k.account
                    ),
                    "use a key of the secrets' account (the function's role is granted decrypt here; a key elsewhere needs that account's key policy, which this stack cannot write)",
                );
            }
        }
    }

    /// The port is not 0, which no database listens on.
    fn port_is_not_zero(&mut self, d: &Entry<'_>) {
        if d.port == 0 {
            self.err(
                &d.at("port"),
                "port 0 is not a port",
                format!("use {} or remove the key", d.raw.engine.default_port()),
            );
        }
    }

    /// The port is not the default port of the other engine family (5432
    /// for a MySQL engine, 3306 for a PostgreSQL one): that is a copied port
    /// or a wrong engine, and the function would speak the wrong protocol.
    /// Other non-default ports are fine.
    fn port_is_not_the_other_engines(&mut self, d: &Entry<'_>) {
        let engine = d.raw.engine;
        let (other_default, other_name) =
            if engine.family() == rotation_contract::EngineFamily::Postgres {
                (3306, "MySQL")
            } else {
                (5432, "PostgreSQL")
            };
        if d.port == other_default {
            self.err(
                &d.at("port"),
                format!(
                    "port {} is the {other_name} port, but the engine is `{}`",
                    d.port,
                    engine.name()
                ),
                format!(
                    "use port {} for `{}` (or remove `port`), or correct the engine",
                    engine.default_port(),
                    engine.name()
                ),
            );
        }
    }

    /// `alternating-users` has a master secret: the function creates and
    /// updates the second user with the master secret's user.
    fn alternating_users_has_master_secret(&mut self, d: &Entry<'_>) {
        if d.raw.strategy == Strategy::AlternatingUsers && d.raw.master_secret_arn.is_none() {
            self.err(
                &d.at("strategy"),
                "`alternating-users` needs a master secret to create and update the second user",
                "add `master_secret_arn` with the ARN of a secret whose user may create users and grant privileges, or use `single-user`",
            );
        }
    }

    /// `single-user` has no master secret: it never uses one, and the
    /// function would still be allowed to read the admin's credentials.
    fn single_user_has_no_master_secret(&mut self, d: &Entry<'_>) {
        if d.raw.strategy == Strategy::SingleUser && d.raw.master_secret_arn.is_some() {
            self.err(
                &d.at("master_secret_arn"),
                "`master_secret_arn` is set but `single-user` never uses it, and the function would be allowed to read it",
                "remove `master_secret_arn`, or set `strategy: alternating-users`",
            );
        }
    }

    /// A used master secret has a full secret ARN, for the same reason as
    /// `secret_arn_is_full`: the policy grants it by exact ARN.
    fn master_secret_arn_is_full(&mut self, d: &Entry<'_>) {
        if let Some(m) = d.used_master_secret() {
            self.secret_arn(&d.at("master_secret_arn"), m);
        }
    }

    /// A used master secret is not the secret being rotated: the admin user
    /// must be a separate user that can create and alter the rotated ones.
    fn master_secret_is_not_the_rotated_secret(&mut self, d: &Entry<'_>) {
        if d.used_master_secret() == Some(d.raw.secret_arn.as_str()) {
            self.err(
                &d.at("master_secret_arn"),
                "the master secret is the secret being rotated",
                "point `master_secret_arn` at the separate secret of the admin user",
            );
        }
    }

    /// `kms_key_arn` is a key ARN, not an alias: the policy grants decrypt on
    /// the key, and a grant on an alias ARN does not cover the key.
    fn kms_key_arn_is_a_key(&mut self, d: &Entry<'_>) {
        if let Some(k) = &d.raw.kms_key_arn {
            self.kms_arn(&d.at("kms_key_arn"), k);
        }
    }

    /// `master_kms_key_arn` is a key ARN, for the same reason as
    /// `kms_key_arn_is_a_key`.
    fn master_kms_key_arn_is_a_key(&mut self, d: &Entry<'_>) {
        if let Some(k) = &d.raw.master_kms_key_arn {
            self.kms_arn(&d.at("master_kms_key_arn"), k);
        }
    }

    /// `master_kms_key_arn` comes with a master secret: the key only decrypts
    /// the master secret, so without one it grants a key for nothing.
    fn master_kms_key_has_master_secret(&mut self, d: &Entry<'_>) {
        if d.raw.master_kms_key_arn.is_some() && d.raw.master_secret_arn.is_none() {
            self.err(
                &d.at("master_kms_key_arn"),
                "`master_kms_key_arn` is set without a master secret",
                "remove `master_kms_key_arn`, or add `master_secret_arn` with `strategy: alternating-users`",
            );
        }
    }

    /// The schedule is one Secrets Manager accepts (see `schedule::check`),
    /// so the mistake shows here, not as a failed deployment. The diagnostic
    /// points at the duration or the expression, whichever to change.
    fn schedule_is_accepted(&mut self, d: &Entry<'_>) {
        let s = &d.raw.schedule;
        if let Err(r) = schedule::check(&s.expression, s.duration.as_deref()) {
            let key = if r.in_duration {
                "schedule.duration"
            } else {
                "schedule.expression"
            };
            self.err(&d.at(key), r.problem, r.fix);
        }
    }

    /// Each `after_rotation` list has at most [`REFRESH_TARGETS_MAX`]
    /// entries (see there why).
    fn after_rotation_lists_are_short(&mut self, d: &Entry<'_>) {
        let a = &d.raw.after_rotation;
        for (key, len) in [
            ("ecs_services", a.ecs_services.len()),
            ("lambda_functions", a.lambda_functions.len()),
        ] {
            if len > REFRESH_TARGETS_MAX {
                self.err(
                    &d.at(&format!("after_rotation.{key}")),
                    format!(
                        "{len} applications, more than the {REFRESH_TARGETS_MAX} a rotation refreshes (each is refreshed inside the rotation's last step, and each is an ARN in the function's role)"
                    ),
                    format!(
                        "list at most {REFRESH_TARGETS_MAX}: let the others read the secret when they need it, or give their database its own secret"
                    ),
                );
            }
        }
    }

    /// Each ECS service is a long-format service ARN, which names the cluster
    /// UpdateService needs; the role is granted on exactly that ARN.
    fn ecs_services_are_long_service_arns(&mut self, d: &Entry<'_>) {
        for (i, value) in d.raw.after_rotation.ecs_services.iter().enumerate() {
            if arn::ecs_service(value).is_some() {
                continue;
            }
            let path = d.at(&format!("after_rotation.ecs_services[{i}]"));
            if arn::ecs_service_short(value) {
                self.err(
                    &path,
                    format!("`{value}` is a short-format ECS service ARN, without the cluster"),
                    "write the long format `arn:aws:ecs:REGION:ACCOUNT:service/CLUSTER/SERVICE` (as `aws ecs describe-services --cluster CLUSTER --services SERVICE --query services[0].serviceArn` prints it once the account uses long ARNs)",
                );
            } else {
                self.err(
                    &path,
                    format!("`{value}` is not an ECS service ARN"),
                    "write `arn:aws:ecs:REGION:ACCOUNT:service/CLUSTER/SERVICE`, as printed by `aws ecs list-services --cluster CLUSTER`",
                );
            }
        }
    }

    /// Each Lambda function is an unqualified function ARN: a published
    /// version's configuration never changes, so neither a version nor an
    /// alias can be given new execution environments this way.
    fn lambda_functions_are_unqualified_function_arns(&mut self, d: &Entry<'_>) {
        for (i, value) in d.raw.after_rotation.lambda_functions.iter().enumerate() {
            if arn::lambda_function(value).is_some() {
                continue;
            }
            let path = d.at(&format!("after_rotation.lambda_functions[{i}]"));
            if arn::lambda_function_qualified(value) {
                self.err(
                    &path,
                    format!("`{value}` names a version or alias of the function"),
                    "write the unqualified ARN `arn:aws:lambda:REGION:ACCOUNT:function:NAME`: the refresh updates the function's unpublished configuration ($LATEST), as a published version's never changes",
                );
            } else {
                self.err(
                    &path,
                    format!("`{value}` is not a Lambda function ARN"),
                    "write `arn:aws:lambda:REGION:ACCOUNT:function:NAME`, as printed by `aws lambda get-function --function-name NAME --query Configuration.FunctionArn`",
                );
            }
        }
    }

    /// Every application is in the partition, Region and account of the
    /// stack's secrets: the function calls the ECS and Lambda APIs of its own
    /// Region through its own endpoints, and the role cannot act in another
    /// account. A malformed ARN was reported above and is not compared.
    fn refresh_targets_are_in_the_stack_account_and_region(
        &mut self,
        d: &Entry<'_>,
        earlier: &Earlier,
    ) {
        let (Some((partition, region)), Some(account)) = (&earlier.region, &earlier.account) else {
            return;
        };
        let a = &d.raw.after_rotation;
        let listed = a
            .ecs_services
            .iter()
            .enumerate()
            .map(|(i, v)| (format!("ecs_services[{i}]"), arn::ecs_service(v)))
            .chain(
                a.lambda_functions
                    .iter()
                    .enumerate()
                    .map(|(i, v)| (format!("lambda_functions[{i}]"), arn::lambda_function(v))),
            );
        for (key, parsed) in listed {
            let Some(t) = parsed else { continue };
            if t.partition != partition || t.region != region || t.account != account {
                self.err(
                    &d.at(&format!("after_rotation.{key}")),
                    format!(
                        "the application is in account `{}`, Region `{}`, the stack's secrets in account `{account}`, Region `{region}`",
                        t.account, t.region
                    ),
                    "list only applications of the stack's account and Region; refresh the others from a stack of their own account and Region, or by hand",
                );
            }
        }
    }

    /// No application is listed twice in one database: the second entry
    /// would only refresh it twice.
    fn refresh_targets_are_listed_once(&mut self, d: &Entry<'_>) {
        let a = &d.raw.after_rotation;
        for (key, list) in [
            ("ecs_services", &a.ecs_services),
            ("lambda_functions", &a.lambda_functions),
        ] {
            let mut seen = std::collections::HashSet::new();
            for (i, value) in list.iter().enumerate() {
                if !seen.insert(value) {
                    self.err(
                        &d.at(&format!("after_rotation.{key}[{i}]")),
                        format!("`{value}` is listed twice"),
                        "remove the duplicate",
                    );
                }
            }
        }
    }

    /// Reports `value` at `path` unless it is a full Secrets Manager secret
    /// ARN.
    fn secret_arn(&mut self, path: &str, value: &str) {
        if arn::secret(value).is_none() {
            self.err(
                path,
                format!("`{value}` is not a full Secrets Manager secret ARN"),
                "write `arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-XXXXXX` with the 6-character suffix, as printed by `aws secretsmanager describe-secret --secret-id NAME --query ARN`",
            );
        }
    }

    /// Reports `value` at `path` unless it is a KMS key ARN.
    fn kms_arn(&mut self, path: &str, value: &str) {
        if arn::kms_key(value).is_none() {
            self.err(
                path,
                format!("`{value}` is not a KMS key ARN"),
                "write `arn:aws:kms:REGION:ACCOUNT:key/KEY-ID`, not an alias (see `aws kms describe-key --key-id alias/NAME --query KeyMetadata.Arn`)",
            );
        }
    }
}
