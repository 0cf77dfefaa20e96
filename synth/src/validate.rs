//! From config text to a `Stack` that is known to deploy.
//!
//! Parsing (serde, with `deny_unknown_fields`) catches unknown keys and wrong
//! types; the checks here catch what types cannot: malformed ARNs and ids,
//! ports that do not fit the engine, schedules Secrets Manager refuses,
//! duplicate databases, strategies without the secret they need. Each mistake
//! becomes a `Diagnostic` with the line to edit and the fix, and all mistakes
//! of a file are reported together so one run shows everything to correct.
//! The rules for `databases` are in the `databases` submodule, one method per
//! rule.

use std::collections::HashSet;

use rotation_contract::env;

use crate::arn;
use crate::config::{RawArtifact, RawConfig, RawEndpoint, Strategy};
use crate::error::{Diagnostic, Diagnostics, Error, Result};
use crate::locate::Locator;
use crate::model::{
    Artifact, Database, Endpoint, Function, Network, Notifications, Password, Role, Stack,
};

mod databases;
mod drift;

/// Retention values CloudWatch Logs accepts.
pub const LOG_RETENTION_DAYS: [u32; 22] = [
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

/// Parses and validates `source`, read from `file` (used in messages and in
/// the header of the rendered template).
pub fn load(source: &str, file: &str) -> Result<Stack> {
    let raw: RawConfig = serde_yaml_ng::from_str(source).map_err(|e| Error::Config {
        diagnostics: Diagnostics {
            file: file.to_owned(),
            items: vec![parse_diagnostic(&e)],
        },
    })?;
    let mut v = Validator {
        source,
        locator: std::cell::OnceCell::new(),
        items: Vec::new(),
    };
    let stack = v.stack(raw, file);
    if v.items.is_empty() {
        Ok(stack)
    } else {
        Err(Error::Config {
            diagnostics: Diagnostics {
                file: file.to_owned(),
                items: v.items,
            },
        })
    }
}

/// Turns a serde error into a diagnostic, keeping its line and adding a fix.
fn parse_diagnostic(e: &serde_yaml_ng::Error) -> Diagnostic {
    let line = e.location().map_or(1, |l| l.line());
    let text = e.to_string();
    // serde_yaml_ng appends " at line L column C"; the diagnostic has its own line.
    let problem = match text.rfind(" at line ") {
        Some(i) => text[..i].to_owned(),
        None => text.clone(),
    };
    let expected = problem
        .split_once("expected one of ")
        .or_else(|| problem.split_once("expected "))
        .map(|(_, rest)| rest.to_owned());
    let fix = if problem.contains("unknown field") {
        match expected {
            Some(_) => "remove the key, or correct its spelling to one of the allowed keys listed"
                .to_owned(),
            None => "remove the key: this mapping takes no keys".to_owned(),
        }
    } else if problem.contains("unknown variant") {
        format!(
            "use one of: {}",
            expected.unwrap_or_else(|| "the documented values".to_owned())
        )
    } else if let Some(rest) = problem.split_once("missing field ") {
        format!("add the key {}", rest.1)
    } else if problem.contains("invalid type") || problem.contains("invalid value") {
        format!(
            "write a value of the expected type{}",
            expected.map(|x| format!(" ({x})")).unwrap_or_default()
        )
    } else {
        "correct the YAML syntax on that line".to_owned()
    };
    Diagnostic {
        line,
        path: String::new(),
        problem,
        fix,
    }
}

/// Most tags AWS accepts on one resource (tags CloudFormation adds in the
/// `aws:` prefix do not count).
pub const MAX_TAGS: usize = 50;

/// A character AWS accepts in tag keys and values: the pattern
/// `[\p{L}\p{Z}\p{N}_.:/=+\-@]` (letters, separators, numbers, and those signs).
fn tag_char(c: char) -> bool {
    c.is_alphabetic()
        || c.is_numeric()
        || (c.is_whitespace() && !c.is_control())
        || "_.:/=+-@".contains(c)
}

struct Validator<'s> {
    source: &'s str,
    /// Built at the first diagnostic: indexing a config costs a second parse,
    /// which a valid config (of 10,000 databases, say) never needs.
    locator: std::cell::OnceCell<Locator>,
    items: Vec<Diagnostic>,
}

fn is_name(s: &str, max: usize) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= max
        && b[0].is_ascii_lowercase()
        && !s.ends_with('-')
        && !s.contains("--")
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
}

impl Validator<'_> {
    fn err(&mut self, path: &str, problem: impl Into<String>, fix: impl Into<String>) {
        self.items.push(Diagnostic {
            line: self
                .locator
                .get_or_init(|| Locator::new(self.source))
                .line(path),
            path: path.to_owned(),
            problem: problem.into(),
            fix: fix.into(),
        });
    }

    fn ec2_id(&mut self, path: &str, id: &str, prefix: &str, what: &str) {
        if !arn::ec2_id(id, prefix) {
            self.err(
                path,
                format!("`{id}` is not a {what} id"),
                format!(
                    "write the id as shown by the EC2 console, e.g. `{prefix}-0123456789abcdef0`"
                ),
            );
        }
    }

    fn stack(&mut self, raw: RawConfig, file: &str) -> Stack {
        if !is_name(&raw.name, 40) {
            self.err(
                "name",
                format!("stack name `{}` is not a valid name", raw.name),
                "use 1 to 40 lowercase letters, digits and single dashes, starting with a letter, e.g. `orders-rotation`",
            );
        }
        self.tags(&raw.tags);
        let network = self.network(&raw);
        let function = self.function(&raw);
        let code = self.artifact("code.function", &raw.code.function);
        let layer = self.artifact("code.layer", &raw.code.layer);
        let notifications = self.notifications(&raw);
        let role = self.role(&raw);
        let drift_check = self.drift_check(raw.alerts.drift_check.as_deref());
        let mut databases = self.databases(&raw.databases);
        self.retire_previous_after(&raw.databases, &mut databases, drift_check.is_some());
        self.password_fits_every_engine(&function, &databases);
        self.rds_endpoint_needed(&network, &databases);
        self.refresh_endpoints_needed(&network, &databases);
        self.refresh_targets_are_not_this_function(&raw.name, &databases);
        self.timeout_leaves_room_for_the_refresh(&function, &databases);
        let layout = self.layout(&raw.layout);
        Stack {
            name: raw.name,
            source: file.to_owned(),
            tags: raw.tags.into_iter().collect(),
            network,
            function,
            code,
            layer,
            notifications,
            role,
            databases,
            layout,
            overdue_audit: raw.alerts.overdue_audit,
            drift_check,
            settings_layer: crate::settings::Layer::default(),
        }
    }

    /// `layout`: its keys are retired. They cut databases into nested stacks
    /// by position, so removing one moved the schedules after it (and a move
    /// turns rotation off); a database's place now follows from its name.
    fn layout(&mut self, raw: &crate::config::RawLayout) -> crate::layout::Layout {
        for (key, set) in [
            ("inline_schedules_max", raw.inline_schedules_max.is_some()),
            (
                "schedules_per_nested_stack",
                raw.schedules_per_nested_stack.is_some(),
            ),
        ] {
            if set {
                self.err(
                    &format!("layout.{key}"),
                    format!(
                        "`layout.{key}` is retired: every rotation schedule is in the nested stack its database's name chooses, so no change of the config moves another database's schedule"
                    ),
                    "remove the key (and the `layout` section); before deploying to a stack rendered with it, run `synth plan` and read \"Moving a deployed stack to the stable layout\" in synth/README.md",
                );
            }
        }
        crate::layout::Layout::default()
    }

    /// Tags follow the rules every AWS service applies (the Tagging AWS
    /// Resources guide, "Tag naming limits and requirements"): at most 50 per
    /// resource, keys of 1 to 128 and values of 0 to 256 Unicode characters,
    /// made of letters, digits, spaces and `_ . : / = + - @`, and no key in
    /// the reserved `aws:` prefix. CloudFormation would otherwise create part
    /// of the stack and fail on the first resource that refuses the tag.
    fn tags(&mut self, tags: &std::collections::BTreeMap<String, String>) {
        const ALLOWED: &str = "letters, digits, spaces and `_ . : / = + - @`";
        if tags.len() > MAX_TAGS {
            self.err(
                "tags",
                format!(
                    "{} tags, more than the {MAX_TAGS} AWS allows on a resource",
                    tags.len()
                ),
                format!("keep at most {MAX_TAGS} tags"),
            );
        }
        for (k, v) in tags {
            let path = format!("tags.{k}");
            let key_len = k.chars().count();
            if key_len == 0 || key_len > 128 {
                self.err(
                    &path,
                    format!("tag key `{}` has {key_len} characters", k.escape_debug()),
                    "use a key of 1 to 128 characters",
                );
            }
            if k.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("aws:")) {
                self.err(
                    &path,
                    format!(
                        "tag key `{}` starts with `aws:`, which AWS reserves",
                        k.escape_debug()
                    ),
                    "use a key without the `aws:` prefix, e.g. `team`",
                );
            }
            if let Some(c) = k.chars().find(|c| !tag_char(*c)) {
                self.err(
                    &path,
                    format!(
                        "tag key `{}` has the character {c:?}, which AWS refuses in tags",
                        k.escape_debug()
                    ),
                    format!("use only {ALLOWED} in tag keys"),
                );
            }
            let value_len = v.chars().count();
            if value_len > 256 {
                self.err(
                    &path,
                    format!("tag value has {value_len} characters, more than 256"),
                    "shorten the value to 256 characters or fewer",
                );
            }
            if let Some(c) = v.chars().find(|c| !tag_char(*c)) {
                self.err(
                    &path,
                    format!(
                        "tag value `{}` has the character {c:?}, which AWS refuses in tags",
                        v.escape_debug()
                    ),
                    format!("use only {ALLOWED} in tag values"),
                );
            }
        }
    }

    /// The function refuses, at createSecret, a password longer than the secret's engine
    /// accepts (MySQL: 256): say so now, naming the first database it would fail.
    fn password_fits_every_engine(&mut self, function: &Function, databases: &[Database]) {
        let length = u64::from(function.password.length);
        if let Some(db) = databases
            .iter()
            .find(|db| length > db.engine.family().longest_password())
        {
            let longest = db.engine.family().longest_password();
            self.err(
                "function.password.length",
                format!(
                    "password length {length} is longer than {} accepts ({longest}), and database \
                     `{}` is {}",
                    db.engine.family().product(),
                    db.name,
                    db.engine.name()
                ),
                format!("use {longest} characters or fewer"),
            );
        }
    }

    fn network(&mut self, raw: &RawConfig) -> Network {
        let n = &raw.network;
        self.ec2_id("network.vpc_id", &n.vpc_id, "vpc", "VPC");
        if n.subnet_ids.is_empty() {
            self.err(
                "network.subnet_ids",
                "no subnets",
                "list the private subnets of the VPC that route to the databases, in at least two availability zones",
            );
        }
        self.subnets("network.subnet_ids", &n.subnet_ids);
        if let Some(list) = &n.endpoint_subnet_ids {
            if list.is_empty() {
                self.err(
                    "network.endpoint_subnet_ids",
                    "no subnets",
                    "list one subnet per Availability Zone for the created endpoints, or remove the key to use `subnet_ids`",
                );
            }
            self.subnets("network.endpoint_subnet_ids", list);
            if !n.secrets_manager_endpoint.create
                && ![&n.rds_endpoint, &n.ecs_endpoint, &n.lambda_endpoint]
                    .into_iter()
                    .any(|e| e.as_ref().is_some_and(|e| e.create))
            {
                self.err(
                    "network.endpoint_subnet_ids",
                    "the stack creates no interface endpoint, so these subnets would be unused",
                    "remove `endpoint_subnet_ids`, or set `create: true` on an endpoint",
                );
            }
        }
        self.ec2_id(
            "network.database_security_group_id",
            &n.database_security_group_id,
            "sg",
            "security group",
        );
        let endpoint = self.endpoint(
            "network.secrets_manager_endpoint",
            &n.secrets_manager_endpoint,
            "Secrets Manager",
        );
        let rds_endpoint = n
            .rds_endpoint
            .as_ref()
            .map(|e| self.endpoint("network.rds_endpoint", e, "RDS"));
        let ecs_endpoint = n
            .ecs_endpoint
            .as_ref()
            .map(|e| self.endpoint("network.ecs_endpoint", e, "ECS"));
        let lambda_endpoint = n
            .lambda_endpoint
            .as_ref()
            .map(|e| self.endpoint("network.lambda_endpoint", e, "Lambda"));
        Network {
            vpc_id: n.vpc_id.clone(),
            subnet_ids: n.subnet_ids.clone(),
            endpoint_subnet_ids: n
                .endpoint_subnet_ids
                .clone()
                .unwrap_or_else(|| n.subnet_ids.clone()),
            database_security_group_id: n.database_security_group_id.clone(),
            endpoint,
            rds_endpoint,
            ecs_endpoint,
            lambda_endpoint,
        }
    }

    /// Subnet ids, each well-formed and listed once.
    fn subnets(&mut self, key: &str, list: &[String]) {
        let mut seen = HashSet::new();
        for (i, s) in list.iter().enumerate() {
            let path = format!("{key}[{i}]");
            self.ec2_id(&path, s, "subnet", "subnet");
            if !seen.insert(s) {
                self.err(
                    &path,
                    format!("subnet `{s}` is listed twice"),
                    "remove the duplicate",
                );
            }
        }
    }

    /// An interface endpoint of `service`: created for the function, or an existing one.
    fn endpoint(&mut self, path: &str, e: &RawEndpoint, service: &str) -> Endpoint {
        match (&e.create, &e.security_group_id) {
            (true, None) => Endpoint::Create,
            (false, Some(sg)) => {
                self.ec2_id(
                    &format!("{path}.security_group_id"),
                    sg,
                    "sg",
                    "security group",
                );
                Endpoint::Existing {
                    security_group_id: sg.clone(),
                }
            }
            (true, Some(_)) => {
                self.err(
                    path,
                    "both `create: true` and `security_group_id` are set",
                    "keep `create: true` to create an endpoint, or `security_group_id` to use the existing one, not both",
                );
                Endpoint::Create
            }
            (false, None) => {
                self.err(
                    path,
                    format!(
                        "no {service} endpoint: the function in private subnets could not reach {service}"
                    ),
                    format!(
                        "set `create: true`, or `security_group_id` of the existing {service} interface endpoint"
                    ),
                );
                Endpoint::Create
            }
        }
    }

    /// The RDS API is required for alternating users with an RDS-managed
    /// master secret (to find its database); for any stack, it lets the
    /// preflight find the RDS Proxies that log in with a rotated secret.
    fn rds_endpoint_needed(&mut self, network: &Network, databases: &[Database]) {
        // An RDS-managed master secret holds only a user name and a password:
        // the function asks the RDS API where its database is, and its
        // security group opens no path to the RDS API but the endpoint's.
        if network.rds_endpoint.is_none()
            && let Some((i, d)) = databases.iter().enumerate().find(|(_, d)| {
                d.strategy == Strategy::AlternatingUsers
                    && d.master_secret_arn.as_deref().is_some_and(rds_managed)
            })
        {
            self.err(
                &format!("databases[{i}].master_secret_arn"),
                format!(
                    "database `{}` uses a master secret RDS manages, which names no host: the function must ask the RDS API where its database is, and without `network.rds_endpoint` the function's security group allows no way to it",
                    d.name
                ),
                "add `network.rds_endpoint` (`create: true`, or `security_group_id` of an existing `rds` interface endpoint), or use a master secret of your own that names its `host`",
            );
        }
    }

    /// The function reaches the ECS API only through `network.ecs_endpoint`
    /// and the Lambda API only through `network.lambda_endpoint` (its security
    /// group opens no other way): each is required when a database lists that
    /// kind of application in `after_rotation`, and refused when none does (a
    /// route nothing uses).
    fn refresh_endpoints_needed(&mut self, network: &Network, databases: &[Database]) {
        type Listed = fn(&Database) -> &[String];
        let kinds: [(&str, &str, &str, bool, Listed); 2] = [
            (
                "ecs_endpoint",
                "ecs_services",
                "ECS",
                network.ecs_endpoint.is_some(),
                |d| &d.after_rotation.ecs_services,
            ),
            (
                "lambda_endpoint",
                "lambda_functions",
                "Lambda",
                network.lambda_endpoint.is_some(),
                |d| &d.after_rotation.lambda_functions,
            ),
        ];
        for (key, list, api, present, listed) in kinds {
            let first = databases
                .iter()
                .enumerate()
                .find(|(_, d)| !listed(d).is_empty());
            match (present, first) {
                (false, Some((i, d))) => self.err(
                    &format!("databases[{i}].after_rotation.{list}"),
                    format!(
                        "database `{}` refreshes applications through the {api} API, and without `network.{key}` the function's security group allows no way to it",
                        d.name
                    ),
                    format!(
                        "add `network.{key}` (`create: true`, or `security_group_id` of an existing `{}` interface endpoint with private DNS on)",
                        api.to_ascii_lowercase()
                    ),
                ),
                (true, None) => self.err(
                    &format!("network.{key}"),
                    format!("no database lists `after_rotation.{list}`, so the function never calls the {api} API"),
                    format!("remove `{key}`"),
                ),
                _ => {}
            }
        }
    }

    /// With applications to refresh, the function's timeout leaves room for
    /// finishSecret's refresh (two bounded attempts) beside the step's own
    /// work: an invocation that timed out after moving AWSCURRENT would leave
    /// the refresh half done and make Secrets Manager retry the step.
    fn timeout_leaves_room_for_the_refresh(&mut self, function: &Function, databases: &[Database]) {
        use rotation_contract::settings::REFRESH_BUDGET_SECONDS;
        let least = REFRESH_BUDGET_SECONDS + 10;
        if u64::from(function.timeout_seconds) < least
            && databases.iter().any(|d| !d.after_rotation.is_empty())
        {
            self.err(
                "function.timeout_seconds",
                format!(
                    "a timeout of {} s leaves no room for the refresh of `after_rotation` (up to {REFRESH_BUDGET_SECONDS} s after finishSecret has moved AWSCURRENT)",
                    function.timeout_seconds
                ),
                format!("use {least} seconds or more (60, the default, is plenty)"),
            );
        }
    }

    /// The rotation function is not among the functions it refreshes: it
    /// would rewrite its own configuration in the middle of a rotation, and
    /// the stack, not the function, owns that configuration.
    fn refresh_targets_are_not_this_function(&mut self, stack: &str, databases: &[Database]) {
        let own = format!("{stack}-function");
        for (i, d) in databases.iter().enumerate() {
            for (j, arn) in d.after_rotation.lambda_functions.iter().enumerate() {
                if arn::lambda_function_name(arn) == Some(own.as_str()) {
                    self.err(
                        &format!("databases[{i}].after_rotation.lambda_functions[{j}]"),
                        format!("`{arn}` is this stack's rotation function"),
                        "remove it: the rotation function reads each secret afresh and needs no refresh",
                    );
                }
            }
        }
    }

    fn role(&mut self, raw: &RawConfig) -> Role {
        let r = &raw.role;
        if let Some(a) = &r.permissions_boundary_arn
            && arn::iam(a, "policy/").is_none()
        {
            self.err(
                "role.permissions_boundary_arn",
                format!("`{a}` is not an IAM managed policy ARN"),
                "write `arn:aws:iam::ACCOUNT:policy/NAME` (or `arn:aws:iam::aws:policy/NAME` for an AWS managed policy)",
            );
        }
        if let Some(p) = &r.path
            && !arn::iam_path(p)
        {
            self.err(
                "role.path",
                format!("`{}` is not an IAM path", p.escape_debug()),
                "write `/` or a path that starts and ends with `/`, such as `/rotation/`, of at most 512 printable ASCII characters",
            );
        }
        match &r.existing_arn {
            None => Role::Create {
                path: r.path.clone(),
                permissions_boundary_arn: r.permissions_boundary_arn.clone(),
            },
            Some(a) => {
                if arn::iam(a, "role/").is_none_or(|x| x.account == "aws") {
                    self.err(
                        "role.existing_arn",
                        format!("`{a}` is not an IAM role ARN"),
                        "write `arn:aws:iam::ACCOUNT:role/NAME` (with the role's path, if any, before NAME), in the function's account",
                    );
                }
                if r.path.is_some() || r.permissions_boundary_arn.is_some() {
                    self.err(
                        "role",
                        "`existing_arn` is set with `path` or `permissions_boundary_arn`, which only apply to a role the stack creates",
                        "remove `path` and `permissions_boundary_arn`, or `existing_arn`",
                    );
                }
                Role::Existing {
                    arn: a.clone(),
                    policy: String::new(),
                }
            }
        }
    }

    fn function(&mut self, raw: &RawConfig) -> Function {
        let f = &raw.function;
        if !(128..=10240).contains(&f.memory_mb) {
            self.err(
                "function.memory_mb",
                format!("memory {} MB is outside what Lambda accepts", f.memory_mb),
                "use 128 to 10240 (256 is plenty for rotation)",
            );
        }
        if !(1..=900).contains(&f.timeout_seconds) {
            self.err(
                "function.timeout_seconds",
                format!(
                    "timeout {} s is outside what Lambda accepts",
                    f.timeout_seconds
                ),
                "use 1 to 900 seconds (60 leaves room for slow database connections)",
            );
        }
        if !LOG_RETENTION_DAYS.contains(&f.log_retention_days) {
            let nearest = LOG_RETENTION_DAYS
                .iter()
                .min_by_key(|d| d.abs_diff(f.log_retention_days))
                .copied()
                .unwrap_or(365);
            self.err(
                "function.log_retention_days",
                format!(
                    "CloudWatch Logs does not accept a retention of {} days",
                    f.log_retention_days
                ),
                format!("use one of {LOG_RETENTION_DAYS:?}, e.g. {nearest}"),
            );
        }
        let p = &f.password;
        // The range the function accepts, from the contract both read.
        let length = env::PASSWORD_LENGTH;
        if !length.accepts(u64::from(p.length)) {
            self.err(
                "function.password.length",
                format!(
                    "password length {} is outside {} to {}",
                    p.length, length.min, length.max
                ),
                format!(
                    "use {} to {} characters ({} is the default)",
                    length.min, length.max, length.default
                ),
            );
        }
        if p.exclude_numbers && p.exclude_punctuation && p.exclude_uppercase && p.exclude_lowercase
        {
            self.err(
                "function.password",
                "every character class is excluded, so no password can be generated",
                "set at least one of `exclude_numbers`, `exclude_punctuation`, `exclude_uppercase`, `exclude_lowercase` to false",
            );
        }
        if p.exclude_characters
            .as_deref()
            .is_some_and(|e| !e.chars().all(|c| c.is_ascii() && !c.is_ascii_control()))
        {
            self.err(
                "function.password.exclude_characters",
                "`exclude_characters` has non-ASCII or control characters, which passwords never contain",
                "list only printable ASCII characters",
            );
        }
        if let Some(n) = f.mysql_max_user_length
            && !env::MYSQL_MAX_USER_LENGTH.accepts(u64::from(n))
        {
            self.err(
                "function.mysql_max_user_length",
                format!("MySQL user names cannot be limited to {n} characters"),
                "use 16 (MySQL 5.6), 32 (MySQL 5.7 and later) or 80 (MariaDB), or remove the key",
            );
        }
        if let Some(a) = &f.code_signing_config_arn
            && arn::code_signing_config(a).is_none()
        {
            self.err(
                "function.code_signing_config_arn",
                format!("`{a}` is not a Lambda code signing config ARN"),
                "write `arn:aws:lambda:REGION:ACCOUNT:code-signing-config:csc-...` (see `aws lambda list-code-signing-configs`)",
            );
        }
        if f.reserved_concurrency == Some(0) {
            self.err(
                "function.reserved_concurrency",
                "a reserved concurrency of 0 stops every invocation, so no secret would rotate",
                "use 1 or more (one per database rotating at the same time), or remove the key to share the account's unreserved concurrency",
            );
        }
        Function {
            architecture: f.architecture,
            memory_mb: f.memory_mb,
            timeout_seconds: f.timeout_seconds,
            log_retention_days: f.log_retention_days,
            tls: f.tls,
            password: Password {
                length: p.length,
                exclude_characters: p.exclude_characters.clone(),
                exclude_numbers: p.exclude_numbers,
                exclude_punctuation: p.exclude_punctuation,
                exclude_uppercase: p.exclude_uppercase,
                exclude_lowercase: p.exclude_lowercase,
                require_each_included_type: p.require_each_included_type,
            },
            mysql_max_user_length: f.mysql_max_user_length,
            code_signing_config_arn: f.code_signing_config_arn.clone(),
            reserved_concurrency: f.reserved_concurrency,
        }
    }

    fn artifact(&mut self, path: &str, a: &RawArtifact) -> Artifact {
        let fix = "give either `path` (a local zip for `aws cloudformation package`) or `s3_bucket` and `s3_key`";
        match (&a.path, &a.s3_bucket, &a.s3_key) {
            (Some(p), None, None) if a.s3_object_version.is_none() => {
                if p.trim().is_empty() || p.chars().any(char::is_control) {
                    self.err(
                        &format!("{path}.path"),
                        "the path is empty or has control characters",
                        "write the path of the zip, relative to the rendered template",
                    );
                }
                Artifact::Local(p.clone())
            }
            (None, Some(bucket), Some(key)) => {
                // S3's bucket naming rules: 3 to 63 characters, lowercase
                // letters, digits, dots and dashes, a letter or digit at both
                // ends, no two dots in a row.
                let alnum = |c: Option<char>| {
                    c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
                };
                let bucket_ok = (3..=63).contains(&bucket.len())
                    && bucket.chars().all(|c| {
                        c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.'
                    })
                    && alnum(bucket.chars().next())
                    && alnum(bucket.chars().last())
                    && !bucket.contains("..");
                if !bucket_ok {
                    self.err(
                        &format!("{path}.s3_bucket"),
                        format!("`{}` is not an S3 bucket name", bucket.escape_debug()),
                        "write the bucket name only (3 to 63 lowercase letters, digits, dots, dashes, starting and ending with a letter or digit), not an `s3://` URL",
                    );
                }
                // S3 object keys are 1 to 1024 bytes of UTF-8.
                if key.is_empty() || key.len() > 1024 || key.chars().any(char::is_control) {
                    self.err(
                        &format!("{path}.s3_key"),
                        "the S3 key is empty, longer than 1024 bytes or has control characters",
                        "write the object key, e.g. `rotation/bootstrap.zip`",
                    );
                }
                if a.s3_object_version.is_none() {
                    self.err(
                        &format!("{path}.s3_key"),
                        "an S3 object without `s3_object_version` is never deployed again: when the object changes, the template does not, and CloudFormation updates nothing",
                        "add `s3_object_version` with the version id S3 gave the upload (the bucket needs versioning), or give `path` and deploy after `aws cloudformation package`, which names each upload after its content",
                    );
                }
                if let Some(v) = &a.s3_object_version
                    && (v.is_empty()
                        || v.len() > 1024
                        || v.chars().any(|c| c.is_control() || c.is_whitespace()))
                {
                    self.err(
                        &format!("{path}.s3_object_version"),
                        format!("`{}` is not an S3 object version id", v.escape_debug()),
                        "write the version id as printed by `aws s3api list-object-versions`, or remove the key",
                    );
                }
                Artifact::S3 {
                    bucket: bucket.clone(),
                    key: key.clone(),
                    version: a.s3_object_version.clone(),
                }
            }
            _ => {
                self.err(
                    path,
                    "the source of the zip is ambiguous or incomplete",
                    fix,
                );
                Artifact::Local(String::new())
            }
        }
    }

    fn notifications(&mut self, raw: &RawConfig) -> Notifications {
        let n = &raw.notifications;
        match (n.create_topic, &n.topic_arn) {
            (true, None) => Notifications::CreateTopic,
            (false, Some(a)) => {
                if arn::sns_topic(a).is_none() {
                    self.err(
                        "notifications.topic_arn",
                        format!("`{a}` is not the ARN of a standard SNS topic"),
                        "write `arn:aws:sns:REGION:ACCOUNT:TOPIC` (FIFO topics cannot receive alarms)",
                    );
                }
                Notifications::Topic(a.clone())
            }
            (true, Some(_)) => {
                self.err(
                    "notifications",
                    "both `create_topic: true` and `topic_arn` are set",
                    "keep one: `create_topic: true` or the `topic_arn` of an existing topic",
                );
                Notifications::CreateTopic
            }
            (false, None) => {
                self.err(
                    "notifications",
                    "alarms have nowhere to go",
                    "set `create_topic: true`, or `topic_arn` of an existing SNS topic",
                );
                Notifications::CreateTopic
            }
        }
    }
}

/// A secret RDS manages (`rds!db-...`, `rds!cluster-...`): RDS rotates it, and
/// it holds only a user name and a password.
pub(crate) fn rds_managed(secret_arn: &str) -> bool {
    arn::secret(secret_arn).is_some_and(|a| a.resource.starts_with("secret:rds!"))
}
