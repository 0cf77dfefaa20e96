//! The limits a rendered stack must stay within, checked before any deploy.
//!
//! CloudFormation refuses a template past 500 resources, 200 outputs, 200
//! parameters or 1 MB (the limit for a template uploaded to S3, which
//! `aws cloudformation package` does), and IAM refuses a role whose inline
//! policies pass 10,240 characters (whitespace excluded). A refused deploy
//! fails late, sometimes halfway through an update; synth measures every file
//! it renders and fails first, naming the limit and the fix. Lambda refuses a
//! function whose environment variables pass 4 KB; that is measured too.

use serde_yaml_ng::Value;

use crate::error::{Error, Result};

/// Resources per template.
pub const MAX_RESOURCES: usize = 500;
/// Outputs per template.
pub const MAX_OUTPUTS: usize = 200;
/// Parameters per template.
pub const MAX_PARAMETERS: usize = 200;
/// Template body in S3, in bytes. CloudFormation documents "1 MB"; the
/// decimal megabyte is the safe reading.
pub const MAX_TEMPLATE_BYTES: usize = 1_000_000;
/// Aggregate size of a role's inline policies, whitespace excluded.
pub const MAX_ROLE_POLICY_CHARS: usize = 10_240;
/// Characters kept free in the role policy: the policy is measured as
/// written, and CloudFormation resolves `Fn::Sub` and `Fn::GetAtt` to values
/// that may be longer (a log group ARN holds the stack name).
pub const ROLE_POLICY_RESERVE: usize = 1_000;
/// Lambda's limit on a function's environment variables, all together.
/// Measured on their JSON form (`{"NAME":"value",...}`), which is longer than
/// the names and values alone, so the reading is the safe one.
pub const MAX_ENVIRONMENT_BYTES: usize = 4_096;
/// What a value written as an intrinsic function (an endpoint URL built from
/// an endpoint's DNS name) may resolve to at most: `https://` and a DNS name
/// of 253 characters.
pub const RESOLVED_VALUE_MAX: usize = 8 + 253;

/// What a rendered template holds, as the limits count it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shape {
    pub file: String,
    pub bytes: usize,
    pub resources: usize,
    pub outputs: usize,
    pub parameters: usize,
    /// Non-whitespace characters of `RotationFunctionRole`'s inline policies
    /// as written (intrinsic functions unresolved), when the file has the role.
    pub role_policy_chars: Option<usize>,
    /// Bytes of `RotationFunction`'s environment variables as JSON, an
    /// intrinsic value counted as [`RESOLVED_VALUE_MAX`], when the file has the function.
    pub environment_bytes: Option<usize>,
}

/// Resources, outputs and parameters of a template synth rendered, counted
/// from its lines: the templates put top-level sections at column 0 and their
/// entries at column 2, one key per line, so counting those lines is exact
/// (a test compares it with a YAML parse of every example) and, for 10,000
/// databases, a tenth of the time of parsing 4 MB of YAML.
pub fn count_sections(text: &str) -> (usize, usize, usize) {
    let (mut resources, mut outputs, mut parameters) = (0, 0, 0);
    let mut section: Option<&mut usize> = None;
    for line in text.lines() {
        if line.is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        if !line.starts_with(' ') {
            section = match line.trim_end() {
                "Resources:" => Some(&mut resources),
                "Outputs:" => Some(&mut outputs),
                "Parameters:" => Some(&mut parameters),
                _ => None,
            };
            continue;
        }
        if let Some(n) = section.as_deref_mut() {
            let rest = &line[2..];
            if line.starts_with("  ") && !rest.starts_with(' ') && rest.contains(':') {
                *n += 1;
            }
        }
    }
    (resources, outputs, parameters)
}

/// Measures one rendered template. Only a template with the role is parsed
/// (to measure the role's policy).
pub fn shape(file: &str, text: &str) -> Result<Shape> {
    let (resources, outputs, parameters) = count_sections(text);
    let mut shape = Shape {
        file: file.to_owned(),
        bytes: text.len(),
        resources,
        outputs,
        parameters,
        role_policy_chars: None,
        environment_bytes: None,
    };
    if !text.contains("\n  RotationFunctionRole:\n") && !text.contains("\n  RotationFunction:\n") {
        return Ok(shape);
    }
    let doc: Value = serde_yaml_ng::from_str(text).map_err(|source| Error::Rendered {
        file: file.to_owned(),
        source,
    })?;
    shape.environment_bytes = doc
        .get("Resources")
        .and_then(|r| r.get("RotationFunction"))
        .and_then(|r| r.get("Properties"))
        .and_then(|p| p.get("Environment"))
        .and_then(|e| e.get("Variables"))
        .and_then(Value::as_mapping)
        .map(environment_bytes);
    shape.role_policy_chars = doc
        .get("Resources")
        .and_then(|r| r.get("RotationFunctionRole"))
        .and_then(|r| r.get("Properties"))
        .map(|props| {
            props
                .get("Policies")
                .and_then(Value::as_sequence)
                .map_or(0, |policies| {
                    policies
                        .iter()
                        .filter_map(|p| p.get("PolicyDocument"))
                        .map(|doc| {
                            serde_json::to_string(doc)
                                .unwrap_or_default()
                                .chars()
                                .filter(|c| !c.is_whitespace())
                                .count()
                        })
                        .sum()
                })
        });
    Ok(shape)
}

/// The JSON length of an environment's variables: `{`, `"NAME":"value"` each,
/// commas, `}`. A value that is not a plain string (an intrinsic function)
/// counts as the longest it may resolve to.
pub fn environment_bytes(variables: &serde_yaml_ng::Mapping) -> usize {
    let pairs: usize = variables
        .iter()
        .map(|(name, value)| {
            let name = serde_json::to_string(&name.as_str().unwrap_or_default())
                .unwrap_or_default()
                .len();
            let value = match value {
                Value::String(s) => serde_json::to_string(s).unwrap_or_default().len(),
                Value::Number(n) => n.to_string().len() + 2,
                Value::Bool(b) => b.to_string().len() + 2,
                _ => RESOLVED_VALUE_MAX + 2,
            };
            name + 1 + value
        })
        .sum();
    2 + pairs + variables.len().saturating_sub(1)
}

/// What to change when the main template or a nested one is too big.
#[derive(Debug, Clone, Copy)]
pub enum Role {
    Main,
    Nested,
}

impl Role {
    fn fix_for_schedules(self) -> &'static str {
        match self {
            Role::Main => {
                "the main template holds no schedules; split the databases into several configs (one stack and function each)"
            }
            Role::Nested => {
                "this nested stack holds the databases whose names fall in its bucket (see synth/README.md, \"Large stacks\"); split the databases into several configs (one stack and function each)"
            }
        }
    }
}

/// Every limit `shape` passes, as one problem each (empty when it deploys).
pub fn problems(shape: &Shape, role: Role) -> Vec<String> {
    let mut out = Vec::new();
    let f = &shape.file;
    if shape.resources > MAX_RESOURCES {
        out.push(format!(
            "`{f}` has {} resources, past CloudFormation's limit of {MAX_RESOURCES} resources per template\n  fix: {}",
            shape.resources,
            role.fix_for_schedules()
        ));
    }
    if shape.bytes > MAX_TEMPLATE_BYTES {
        out.push(format!(
            "`{f}` is {} bytes, past CloudFormation's limit of 1 MB ({MAX_TEMPLATE_BYTES} bytes) per template body\n  fix: {}",
            shape.bytes,
            role.fix_for_schedules()
        ));
    }
    if shape.outputs > MAX_OUTPUTS {
        out.push(format!(
            "`{f}` has {} outputs, past CloudFormation's limit of {MAX_OUTPUTS} outputs per template\n  fix: split the databases into several configs (one stack each)",
            shape.outputs
        ));
    }
    if shape.parameters > MAX_PARAMETERS {
        out.push(format!(
            "`{f}` has {} parameters, past CloudFormation's limit of {MAX_PARAMETERS} parameters per template\n  fix: split the databases into several configs (one stack each)",
            shape.parameters
        ));
    }
    if let Some(chars) = shape.role_policy_chars
        && chars + ROLE_POLICY_RESERVE > MAX_ROLE_POLICY_CHARS
    {
        out.push(format!(
                "`{f}`: the inline policy of RotationFunctionRole has {chars} characters (whitespace excluded) before CloudFormation resolves its references, past IAM's limit of {MAX_ROLE_POLICY_CHARS} characters per role less {ROLE_POLICY_RESERVE} kept for those references\n  fix: master secrets, KMS keys and the applications of `after_rotation` are listed one by one: let databases share master secrets, list fewer applications, or split the databases into several configs (one stack and function each)"
            ));
    }
    if let Some(bytes) = shape.environment_bytes
        && bytes > MAX_ENVIRONMENT_BYTES
    {
        out.push(format!(
            "`{f}`: the environment variables of RotationFunction take {bytes} bytes (as JSON, an endpoint URL counted as {RESOLVED_VALUE_MAX}), past Lambda's limit of 4 KB ({MAX_ENVIRONMENT_BYTES} bytes) per function\n  fix: shorten `function.password.exclude_characters`, the one value of any length the config puts there"
        ));
    }
    out
}

/// Measures every rendered file (the main template first) and fails with all
/// the limits they pass.
pub fn check(files: &[(String, String)]) -> Result<Vec<Shape>> {
    let mut shapes = Vec::with_capacity(files.len());
    let mut all = Vec::new();
    for (i, (file, text)) in files.iter().enumerate() {
        let s = shape(file, text)?;
        let role = if i == 0 { Role::Main } else { Role::Nested };
        all.extend(problems(&s, role));
        shapes.push(s);
    }
    if all.is_empty() {
        Ok(shapes)
    } else {
        Err(Error::Limits { problems: all })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape_of(bytes: usize, resources: usize, outputs: usize, parameters: usize) -> Shape {
        Shape {
            file: "t.yaml".to_owned(),
            bytes,
            resources,
            outputs,
            parameters,
            role_policy_chars: None,
            environment_bytes: None,
        }
    }

    #[test]
    fn each_limit_is_named_with_its_fix() {
        assert!(problems(&shape_of(1000, 500, 200, 200), Role::Nested).is_empty());
        let p = problems(&shape_of(1_000_001, 10, 10, 10), Role::Nested);
        assert!(p[0].contains("1 MB") && p[0].contains("bucket"), "{p:?}");
        let p = problems(&shape_of(10, 10, 201, 10), Role::Main);
        assert!(
            p[0].contains("limit of 200 outputs") && p[0].contains("fix:"),
            "{p:?}"
        );
        let p = problems(&shape_of(10, 10, 10, 201), Role::Nested);
        assert!(
            p[0].contains("limit of 200 parameters") && p[0].contains("fix:"),
            "{p:?}"
        );
    }

    #[test]
    fn shape_counts_sections() {
        let s = shape(
            "t.yaml",
            "Parameters:\n  A:\n    Type: String\nResources:\n  B:\n    Type: AWS::SNS::Topic\n  C:\n    Type: AWS::SNS::Topic\n",
        )
        .unwrap();
        assert_eq!((s.resources, s.outputs, s.parameters), (2, 0, 1));
        assert_eq!(s.role_policy_chars, None);
        assert_eq!(s.environment_bytes, None);
    }

    #[test]
    fn the_environment_is_measured_as_json_with_intrinsics_at_their_longest() {
        let s = shape(
            "t.yaml",
            "Resources:\n  RotationFunction:\n    Type: AWS::Lambda::Function\n    Properties:\n      Environment:\n        Variables:\n          A: \"x\"\n          B:\n            Fn::Sub: \"https://${AWS::Region}\"\n",
        )
        .unwrap();
        // {"A":"x","B":"<261 characters>"}
        assert_eq!(
            s.environment_bytes,
            Some(2 + 7 + 1 + 4 + RESOLVED_VALUE_MAX + 2)
        );
        let mut big = s.clone();
        big.environment_bytes = Some(MAX_ENVIRONMENT_BYTES + 1);
        let p = problems(&big, Role::Main);
        assert!(
            p[0].contains("4 KB") && p[0].contains("exclude_characters"),
            "{p:?}"
        );
        big.environment_bytes = Some(MAX_ENVIRONMENT_BYTES);
        assert!(problems(&big, Role::Main).is_empty());
    }
}
