//! How a stack of any size is laid out so that it deploys, and so that a
//! change never moves a database's rotation schedule.
//!
//! CloudFormation creates a `RotationSchedule` that changed logical ID or
//! stack before it deletes the old one, and the delete cancels rotation on
//! the secret: the stack shows a schedule, the secret rotates no more. So a
//! database's schedule has one place, fixed by its `name` alone: the logical
//! ID `<Name>RotationSchedule`, in the nested stack of its bucket, the first 8
//! bytes of the SHA-256 of the name (big-endian) modulo [`BUCKETS`]. Adding,
//! removing or reordering other databases, and any number of databases,
//! leave it where it is. Schedules are never in the main template (the main
//! template cannot hold 10,000, and leaving it would be a move), and a
//! bucket's nested stack exists while it holds a database. Inside a nested
//! template the schedules are sorted by name, so reordering the config
//! changes no file.
//!
//! The role's policy changes shape past fixed thresholds, each change keeping
//! it within IAM's limit whatever the number of databases (a policy change
//! moves no resource):
//!
//! - more than [`LISTED_SECRETS_MAX`] databases: the role reaches the rotated
//!   secrets through the `secretsmanager:resource/AllowRotationLambdaArn`
//!   condition (the secrets whose rotation function is this one) instead of a
//!   list of ARNs, so the policy no longer grows with the databases;
//! - more than [`LISTED_KMS_KEYS_MAX`] distinct KMS keys: the role may use any
//!   key of the accounts those keys belong to, still only through Secrets
//!   Manager (`kms:ViaService`), instead of a list of keys.
//!
//! Master secrets stay listed (they are not rotated by this function, so the
//! condition does not reach them); `limits` refuses a policy they make too long.

use sha2::{Digest, Sha256};

use crate::model::{Database, Stack};

/// Up to this many databases, the role's policy lists each secret ARN.
pub const LISTED_SECRETS_MAX: usize = 50;
/// Up to this many distinct KMS keys, the role's policy lists each key.
pub const LISTED_KMS_KEYS_MAX: usize = 10;
/// Buckets of database names, one nested stack each. Fixed forever: changing
/// it moves most schedules. 32 keeps 10,000 databases at about 310 schedules
/// per nested stack (500 resources is CloudFormation's limit; `limits`
/// refuses a fuller one), and the main template at 32 nested stacks at most.
pub const BUCKETS: u64 = 32;

/// The name of the main template's file.
#[derive(Debug, Clone)]
pub struct Layout {
    /// File name of the main template (no directory): nested templates are
    /// named after it and referenced from it by relative path. Set by
    /// [`crate::render_files`].
    pub parent_file: String,
}

impl Default for Layout {
    fn default() -> Self {
        Layout {
            parent_file: "template.yaml".to_owned(),
        }
    }
}

/// The bucket of a database name: SHA-256 of the name, its first 8 bytes as a
/// big-endian number, modulo [`BUCKETS`]. Depends on the name alone, on every
/// machine and in every version.
pub fn bucket(name: &str) -> u64 {
    let digest = Sha256::digest(name.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first) % BUCKETS
}

/// `RotationSchedules07`: the nested stack of bucket 7 in the main template.
pub fn nested_logical_id(bucket: u64) -> String {
    format!("RotationSchedules{bucket:02}")
}

/// One nested stack of rotation schedules: the databases of one bucket.
#[derive(Debug, Clone)]
pub struct NestedStack<'a> {
    /// The bucket, 0 to [`BUCKETS`] - 1.
    pub bucket: u64,
    /// `RotationSchedules{bucket:02}`, the resource in the main template.
    pub logical_id: String,
    /// File name, next to the main template.
    pub file: String,
    /// The main template's file name.
    pub parent_file: &'a str,
    /// This bucket's databases, sorted by name.
    pub databases: Vec<&'a Database>,
    /// The logical ID of the nested stack of the previous bucket that holds a
    /// database, which this one waits for (one bucket's first rotations at a time).
    pub previous: Option<String>,
}

impl NestedStack<'_> {
    /// The bucket as written in names, two digits.
    pub fn label(&self) -> String {
        format!("{:02}", self.bucket)
    }

    /// [`BUCKETS`], for the templates.
    pub fn buckets(&self) -> u64 {
        BUCKETS
    }
}

/// `stack.template.yaml` -> `stack.schedules-07.template.yaml`; `out.yaml` ->
/// `out.schedules-07.yaml`. Keeping the `.template.yaml` ending makes the files
/// templates for `make examples`, the example tests and the linters.
pub fn nested_file_name(parent_file: &str, bucket: u64) -> String {
    for suffix in [".template.yaml", ".template.yml", ".yaml", ".yml", ".json"] {
        if let Some(base) = parent_file.strip_suffix(suffix)
            && !base.is_empty()
        {
            return format!("{base}.schedules-{bucket:02}{suffix}");
        }
    }
    format!("{parent_file}.schedules-{bucket:02}")
}

/// `arn:PARTITION:SERVICE:REGION:ACCOUNT:` of each ARN, then `resource`,
/// without repeats, first use first.
fn arn_scopes<'a>(arns: impl Iterator<Item = &'a str>, resource: &str) -> Vec<String> {
    let mut prefixes: Vec<&str> = Vec::new();
    for arn in arns {
        // The prefix ends after the fifth `:` (validated ARNs have it).
        let end = arn
            .match_indices(':')
            .nth(4)
            .map_or(arn.len(), |(i, _)| i + 1);
        let prefix = &arn[..end];
        if !prefixes.contains(&prefix) {
            prefixes.push(prefix);
        }
    }
    prefixes
        .into_iter()
        .map(|p| format!("{p}{resource}"))
        .collect()
}

impl Stack {
    /// The role reaches the rotated secrets by the rotation-function condition.
    pub fn secrets_by_condition(&self) -> bool {
        self.databases.len() > LISTED_SECRETS_MAX
    }

    /// The function's name, set only when the policy's condition names the
    /// function (the role cannot refer to the function's `Arn` attribute: the
    /// function refers to the role).
    pub fn function_name(&self) -> String {
        format!("{}-function", self.name)
    }

    /// `Fn::Sub` text of the function's ARN, for the policy's condition.
    pub fn function_arn_sub(&self) -> String {
        format!(
            "arn:${{AWS::Partition}}:lambda:${{AWS::Region}}:${{AWS::AccountId}}:function:{}",
            self.function_name()
        )
    }

    /// `arn:PARTITION:secretsmanager:REGION:ACCOUNT:secret:*` for each distinct
    /// account of the rotated secrets, first use first: with the condition,
    /// the role reaches no secret of an account the config does not name.
    pub fn secret_scopes(&self) -> Vec<String> {
        arn_scopes(
            self.databases.iter().map(|d| d.secret_arn.as_str()),
            "secret:*",
        )
    }

    /// The role may use the KMS keys of whole accounts (through Secrets Manager).
    pub fn kms_keys_by_account(&self) -> bool {
        self.kms_keys().len() > LISTED_KMS_KEYS_MAX
    }

    /// `arn:PARTITION:kms:REGION:ACCOUNT:key/*` for each distinct account and
    /// region of the configured keys, first use first.
    pub fn kms_key_scopes(&self) -> Vec<String> {
        arn_scopes(self.kms_keys().into_iter(), "key/*")
    }

    /// The nested stacks, by bucket; only buckets that hold a database.
    pub fn nested_stacks(&self) -> Vec<NestedStack<'_>> {
        let mut buckets: std::collections::BTreeMap<u64, Vec<&Database>> =
            std::collections::BTreeMap::new();
        for db in &self.databases {
            buckets.entry(bucket(&db.name)).or_default().push(db);
        }
        let mut previous = None;
        buckets
            .into_iter()
            .map(|(bucket, mut databases)| {
                databases.sort_by(|a, b| a.name.cmp(&b.name));
                let logical_id = nested_logical_id(bucket);
                NestedStack {
                    bucket,
                    previous: previous.replace(logical_id.clone()),
                    logical_id,
                    file: nested_file_name(&self.layout.parent_file, bucket),
                    parent_file: &self.layout.parent_file,
                    databases,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_files_keep_the_template_ending() {
        assert_eq!(
            nested_file_name("big.template.yaml", 2),
            "big.schedules-02.template.yaml"
        );
        assert_eq!(nested_file_name("out.yaml", 31), "out.schedules-31.yaml");
        assert_eq!(nested_file_name("out", 1), "out.schedules-01");
    }

    #[test]
    fn the_bucket_is_the_documented_hash_of_the_name() {
        // sha256("orders") starts 0x1c168adb: fixed here so that no change of
        // crate or code can move every deployed schedule unnoticed.
        let digest = Sha256::digest(b"orders");
        let expected = u64::from_be_bytes(digest[..8].try_into().unwrap()) % BUCKETS;
        assert_eq!(bucket("orders"), expected);
        assert_eq!(bucket("orders"), ORDERS_BUCKET);
        assert!((0..BUCKETS).contains(&bucket("x")));
    }

    /// Written down once from the implementation, a guard against a changed hash.
    const ORDERS_BUCKET: u64 = 4;

    #[test]
    fn ten_thousand_names_fill_every_bucket_within_the_resource_limit() {
        let mut count = [0usize; BUCKETS as usize];
        for i in 0..10_000 {
            count[bucket(&format!("db-{i:05}")) as usize] += 1;
        }
        let (min, max) = (count.iter().min().unwrap(), count.iter().max().unwrap());
        assert!(*min > 250 && *max < 400, "{count:?}");
    }
}
