//! Shape checks for ARNs and EC2 ids.
//!
//! A typo in an ARN does not fail at deploy time: IAM happily grants access to
//! a secret that does not exist, and rotation then fails at 3 a.m. These
//! checks catch the usual mistakes (a secret name without its random suffix,
//! a KMS alias instead of a key, an id of the wrong kind) while the author is
//! still editing the file.

/// The parts of `arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arn<'a> {
    pub partition: &'a str,
    pub service: &'a str,
    pub region: &'a str,
    pub account: &'a str,
    pub resource: &'a str,
}

/// Splits an ARN and checks the partition, region and account shapes.
pub fn parse(arn: &str) -> Option<Arn<'_>> {
    let mut it = arn.splitn(6, ':');
    let (Some("arn"), Some(partition), Some(service), Some(region), Some(account), Some(resource)) = (
        it.next(),
        it.next(),
        it.next(),
        it.next(),
        it.next(),
        it.next(),
    ) else {
        return None;
    };
    let partition_ok = partition == "aws"
        || partition.strip_prefix("aws-").is_some_and(|p| {
            !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase() || c == '-')
        });
    let region_ok = region.split('-').count() >= 3
        && region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && region.ends_with(|c: char| c.is_ascii_digit());
    let account_ok = account.len() == 12 && account.chars().all(|c| c.is_ascii_digit());
    (partition_ok && region_ok && account_ok && !resource.is_empty()).then_some(Arn {
        partition,
        service,
        region,
        account,
        resource,
    })
}

/// `arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-AbCdEf`.
pub fn secret(arn: &str) -> Option<Arn<'_>> {
    let a = parse(arn).filter(|a| a.service == "secretsmanager")?;
    let name = a.resource.strip_prefix("secret:")?;
    let (base, suffix) = name.rsplit_once('-')?;
    // `!` only appears in names services choose, such as the master secrets
    // RDS manages (`rds!db-...`, `rds!cluster-...`).
    let base_ok = !base.is_empty()
        && base
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/_+=.@!-".contains(c));
    let suffix_ok = suffix.len() == 6 && suffix.chars().all(|c| c.is_ascii_alphanumeric());
    (base_ok && suffix_ok).then_some(a)
}

/// `arn:aws:kms:REGION:ACCOUNT:key/ID` (a key, not an alias).
pub fn kms_key(arn: &str) -> Option<Arn<'_>> {
    let a = parse(arn).filter(|a| a.service == "kms")?;
    let id = a.resource.strip_prefix("key/")?;
    let id_ok = !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_hexdigit() || c == '-' || c == 'm' || c == 'r' || c == 'k');
    id_ok.then_some(a)
}

/// `arn:aws:sns:REGION:ACCOUNT:TOPIC` (standard topic).
pub fn sns_topic(arn: &str) -> Option<Arn<'_>> {
    let a = parse(arn).filter(|a| a.service == "sns")?;
    let ok = a.resource.len() <= 256
        && a.resource
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    ok.then_some(a)
}

/// `arn:aws:lambda:REGION:ACCOUNT:code-signing-config:csc-...`.
pub fn code_signing_config(arn: &str) -> Option<Arn<'_>> {
    let a = parse(arn).filter(|a| a.service == "lambda")?;
    let id = a.resource.strip_prefix("code-signing-config:csc-")?;
    (!id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric())).then_some(a)
}

/// A name ECS accepts for a cluster or a service: 1 to 255 letters, digits,
/// dashes and underscores.
fn ecs_name(name: &str) -> bool {
    (1..=255).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// `arn:aws:ecs:REGION:ACCOUNT:service/CLUSTER/SERVICE`: the long format,
/// which names the cluster (UpdateService needs it).
pub fn ecs_service(arn: &str) -> Option<Arn<'_>> {
    let a = parse(arn).filter(|a| a.service == "ecs")?;
    let (cluster, service) = a.resource.strip_prefix("service/")?.split_once('/')?;
    (ecs_name(cluster) && ecs_name(service)).then_some(a)
}

/// An ECS service ARN in the short format (`service/SERVICE`, no cluster),
/// which ECS wrote before 2021 and which does not say the cluster.
pub fn ecs_service_short(arn: &str) -> bool {
    parse(arn)
        .filter(|a| a.service == "ecs")
        .and_then(|a| a.resource.strip_prefix("service/"))
        .is_some_and(ecs_name)
}

/// An unqualified Lambda function ARN, `arn:aws:lambda:REGION:ACCOUNT:function:NAME`
/// (no version or alias: a published version's configuration cannot change).
pub fn lambda_function(arn: &str) -> Option<Arn<'_>> {
    let a = parse(arn).filter(|a| a.service == "lambda")?;
    lambda_name(a.resource.strip_prefix("function:")?).then_some(a)
}

/// The function name of an unqualified Lambda function ARN.
pub fn lambda_function_name(arn: &str) -> Option<&str> {
    lambda_function(arn).and_then(|a| a.resource.strip_prefix("function:"))
}

/// A Lambda function ARN with a version or alias (`function:NAME:QUALIFIER`).
pub fn lambda_function_qualified(arn: &str) -> bool {
    parse(arn)
        .filter(|a| a.service == "lambda")
        .and_then(|a| a.resource.strip_prefix("function:"))
        .and_then(|rest| rest.split_once(':'))
        .is_some_and(|(name, qualifier)| lambda_name(name) && !qualifier.is_empty())
}

/// A function name Lambda accepts: 1 to 64 letters, digits, dashes and underscores.
fn lambda_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// An IAM ARN `arn:PARTITION:iam::ACCOUNT:KIND...` whose resource starts with
/// `kind` (`role/`, `policy/`). IAM ARNs have no region; the account is 12
/// digits, or `aws` for AWS managed policies.
pub fn iam<'a>(arn: &'a str, kind: &str) -> Option<Arn<'a>> {
    let mut it = arn.splitn(6, ':');
    let (Some("arn"), Some(partition), Some("iam"), Some(""), Some(account), Some(resource)) = (
        it.next(),
        it.next(),
        it.next(),
        it.next(),
        it.next(),
        it.next(),
    ) else {
        return None;
    };
    let partition_ok = partition == "aws"
        || partition.strip_prefix("aws-").is_some_and(|p| {
            !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase() || c == '-')
        });
    let account_ok =
        account == "aws" || (account.len() == 12 && account.chars().all(|c| c.is_ascii_digit()));
    // The name after the path: letters, digits and `+=,.@_-`, 1 to 128 characters.
    let rest = resource.strip_prefix(kind)?;
    let (path, name) = rest.rsplit_once('/').map_or(("", rest), |(p, n)| (p, n));
    let name_ok = (1..=128).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c));
    let path_ok = path.is_empty() || iam_path(&format!("/{path}/"));
    (partition_ok && account_ok && name_ok && path_ok).then_some(Arn {
        partition,
        service: "iam",
        region: "",
        account,
        resource,
    })
}

/// An IAM path: `/`, or `/` + printable ASCII + `/`, at most 512 characters.
pub fn iam_path(path: &str) -> bool {
    path.len() <= 512
        && path.starts_with('/')
        && path.ends_with('/')
        && path.chars().all(|c| ('\u{21}'..='\u{7e}').contains(&c))
}

/// An EC2 id such as `vpc-0123456789abcdef0` (8 or 17 hex digits).
pub fn ec2_id(id: &str, prefix: &str) -> bool {
    id.strip_prefix(prefix)
        .and_then(|r| r.strip_prefix('-'))
        .is_some_and(|hex| {
            (hex.len() == 8 || hex.len() == 17)
                && hex
                    .chars()
                    .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_arns() {
        assert!(
            secret("arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/orders-AbC123")
                .is_some()
        );
        assert!(
            secret("arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:x-abcdef")
                .is_some()
        );
        // An RDS-managed master secret.
        assert!(
            secret("arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!cluster-1a2b-AbC123")
                .is_some()
        );
        // Missing the random suffix: IAM would not match the real secret.
        assert!(secret("arn:aws:secretsmanager:eu-west-1:123456789012:secret:orders").is_none());
        assert!(secret("arn:aws:secretsmanager:eu-west-1:12345:secret:orders-AbC123").is_none());
        assert!(secret("arn:aws:kms:eu-west-1:123456789012:secret:orders-AbC123").is_none());
    }

    #[test]
    fn kms_and_sns_arns() {
        assert!(
            kms_key("arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab")
                .is_some()
        );
        assert!(
            kms_key("arn:aws:kms:eu-west-1:123456789012:key/mrk-1234abcd12ab34cd56ef1234567890ab")
                .is_some()
        );
        assert!(kms_key("arn:aws:kms:eu-west-1:123456789012:alias/orders").is_none());
        assert!(sns_topic("arn:aws:sns:eu-west-1:123456789012:alarms").is_some());
        assert!(sns_topic("arn:aws:sns:eu-west-1:123456789012:alarms.fifo").is_none());
    }

    #[test]
    fn ecs_service_and_lambda_function_arns() {
        let ecs = "arn:aws:ecs:eu-west-1:123456789012:service/prod/orders-api";
        assert!(ecs_service(ecs).is_some());
        assert!(ecs_service("arn:aws:ecs:eu-west-1:123456789012:service/orders-api").is_none());
        assert!(ecs_service_short(
            "arn:aws:ecs:eu-west-1:123456789012:service/orders-api"
        ));
        assert!(!ecs_service_short(ecs));
        assert!(ecs_service("arn:aws:ecs:eu-west-1:123456789012:service/a/b/c").is_none());
        assert!(ecs_service("arn:aws:ecs:eu-west-1:123456789012:task/prod/abc").is_none());
        assert!(ecs_service("arn:aws:ecs:eu-west-1:123456789012:service/pr od/x").is_none());

        let function = "arn:aws:lambda:eu-west-1:123456789012:function:orders_worker-1";
        assert!(lambda_function(function).is_some());
        assert_eq!(lambda_function_name(function), Some("orders_worker-1"));
        for qualified in [
            "arn:aws:lambda:eu-west-1:123456789012:function:orders:7",
            "arn:aws:lambda:eu-west-1:123456789012:function:orders:live",
            "arn:aws:lambda:eu-west-1:123456789012:function:orders:$LATEST",
        ] {
            assert!(lambda_function(qualified).is_none(), "{qualified}");
            assert!(lambda_function_qualified(qualified), "{qualified}");
        }
        assert!(!lambda_function_qualified(function));
        assert!(lambda_function("arn:aws:lambda:eu-west-1:123456789012:function:").is_none());
        assert!(
            lambda_function(&format!(
                "arn:aws:lambda:eu-west-1:123456789012:function:{}",
                "f".repeat(65)
            ))
            .is_none()
        );
    }

    #[test]
    fn iam_arns_and_paths() {
        assert!(iam("arn:aws:iam::123456789012:role/rotation", "role/").is_some());
        assert!(iam("arn:aws:iam::123456789012:role/team/x/rotation", "role/").is_some());
        assert!(iam("arn:aws:iam::aws:policy/PowerUserAccess", "policy/").is_some());
        assert!(iam("arn:aws:iam::123456789012:policy/boundary", "role/").is_none());
        assert!(iam("arn:aws:iam:eu-west-1:123456789012:role/x", "role/").is_none());
        assert!(iam("arn:aws:iam::123456789012:role/", "role/").is_none());
        assert!(iam_path("/") && iam_path("/rotation/") && iam_path("/a/b/"));
        assert!(!iam_path("rotation/") && !iam_path("/a b/") && !iam_path("/a"));
    }

    #[test]
    fn ec2_ids() {
        assert!(ec2_id("vpc-0123456789abcdef0", "vpc"));
        assert!(ec2_id("sg-01234567", "sg"));
        assert!(!ec2_id("sg-0123456789abcdef0", "vpc"));
        assert!(!ec2_id("subnet-XYZ", "subnet"));
    }
}
