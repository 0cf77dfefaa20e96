//! How a stack of any size is laid out so that it deploys.
//!
//! Small stacks render exactly as they always have: one template, every
//! secret ARN listed in the role's policy, one rotation schedule per database.
//! Past fixed thresholds the layout changes, each change keeping the template
//! within a CloudFormation or IAM limit whatever the number of databases:
//!
//! - more than [`LISTED_SECRETS_MAX`] databases: the role reaches the rotated
//!   secrets through the `secretsmanager:resource/AllowRotationLambdaArn`
//!   condition (the secrets whose rotation function is this one) instead of a
//!   list of ARNs, so the policy no longer grows with the databases;
//! - more than [`LISTED_KMS_KEYS_MAX`] distinct KMS keys: the role may use any
//!   key of the accounts those keys belong to, still only through Secrets
//!   Manager (`kms:ViaService`), instead of a list of keys;
//! - more than `layout.inline_schedules_max` databases: the rotation schedules
//!   move to nested stacks of `layout.schedules_per_nested_stack` each, in
//!   config order, in files next to the main template.
//!
//! Master secrets stay listed (they are not rotated by this function, so the
//! condition does not reach them); `limits` refuses a policy they make too long.

use crate::model::{Database, Stack};

/// Up to this many databases, the role's policy lists each secret ARN.
pub const LISTED_SECRETS_MAX: usize = 50;
/// Up to this many distinct KMS keys, the role's policy lists each key.
pub const LISTED_KMS_KEYS_MAX: usize = 10;
/// Default of `layout.inline_schedules_max`.
pub const DEFAULT_INLINE_SCHEDULES_MAX: usize = 50;
/// Default of `layout.schedules_per_nested_stack`.
pub const DEFAULT_SCHEDULES_PER_NESTED_STACK: usize = 100;

/// The validated `layout` section, and the name of the main template's file.
#[derive(Debug, Clone)]
pub struct Layout {
    pub inline_schedules_max: usize,
    pub schedules_per_nested_stack: usize,
    /// File name of the main template (no directory): nested templates are
    /// named after it and referenced from it by relative path. Set by
    /// [`crate::render_files`].
    pub parent_file: String,
}

impl Default for Layout {
    fn default() -> Self {
        Layout {
            inline_schedules_max: DEFAULT_INLINE_SCHEDULES_MAX,
            schedules_per_nested_stack: DEFAULT_SCHEDULES_PER_NESTED_STACK,
            parent_file: "template.yaml".to_owned(),
        }
    }
}

/// One nested stack of rotation schedules.
#[derive(Debug, Clone)]
pub struct NestedStack<'a> {
    /// 1-based.
    pub index: usize,
    /// How many nested stacks the main template has.
    pub count: usize,
    /// `RotationSchedules{index}`, the resource in the main template.
    pub logical_id: String,
    /// File name, next to the main template.
    pub file: String,
    /// The main template's file name.
    pub parent_file: &'a str,
    /// 1-based position of the first database in the config.
    pub first: usize,
    pub databases: &'a [Database],
}

impl NestedStack<'_> {
    pub fn last(&self) -> usize {
        self.first + self.databases.len() - 1
    }
}

/// `stack.template.yaml` -> `stack.schedules-3.template.yaml`; `out.yaml` ->
/// `out.schedules-3.yaml`. Keeping the `.template.yaml` ending makes the files
/// templates for `make examples`, the example tests and the linters.
pub fn nested_file_name(parent_file: &str, index: usize) -> String {
    for suffix in [".template.yaml", ".template.yml", ".yaml", ".yml", ".json"] {
        if let Some(base) = parent_file.strip_suffix(suffix)
            && !base.is_empty()
        {
            return format!("{base}.schedules-{index}{suffix}");
        }
    }
    format!("{parent_file}.schedules-{index}")
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

    /// The rotation schedules live in nested stacks.
    pub fn nests_schedules(&self) -> bool {
        self.databases.len() > self.layout.inline_schedules_max
    }

    /// The nested stacks, in config order; empty when the schedules are inline.
    /// Databases are cut into consecutive runs, so a database appended to the
    /// config changes the last nested stack only (or adds one).
    pub fn nested_stacks(&self) -> Vec<NestedStack<'_>> {
        if !self.nests_schedules() {
            return Vec::new();
        }
        let per = self.layout.schedules_per_nested_stack.max(1);
        let count = self.databases.len().div_ceil(per);
        self.databases
            .chunks(per)
            .enumerate()
            .map(|(i, databases)| NestedStack {
                index: i + 1,
                count,
                logical_id: format!("RotationSchedules{}", i + 1),
                file: nested_file_name(&self.layout.parent_file, i + 1),
                parent_file: &self.layout.parent_file,
                first: i * per + 1,
                databases,
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
            "big.schedules-2.template.yaml"
        );
        assert_eq!(nested_file_name("out.yaml", 1), "out.schedules-1.yaml");
        assert_eq!(nested_file_name("out", 1), "out.schedules-1");
    }
}
