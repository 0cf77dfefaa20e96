//! The preflight's RDS Proxy check: does an RDS Proxy log in with this secret, and will its
//! clients survive a rotation?
//!
//! A proxy's `Auth` names secrets, one per database user; it reads each secret's current value
//! (AWSCURRENT) itself, and lets a client in as the user that value names. For a single-user
//! secret that user never changes: after a rotation the proxy reads the new password and goes
//! on. For alternating users it does change: each rotation moves AWSCURRENT to the other user,
//! and from then on the proxy knows only that one, so every client still connecting as the
//! previous user is refused by the proxy, though the database itself would still let that user
//! in until the next rotation. That is the lockout this function exists to prevent, so it is a
//! failed check, with the fix.
//!
//! The check only reads (DescribeDBProxies, every page) and is bounded in time
//! ([`PROXY_LOOKUP_TIMEOUT`](crate::rds::PROXY_LOOKUP_TIMEOUT)). Without a route to the RDS
//! API (the stack sets `RDS_API_ROUTE` only with `network.rds_endpoint`), or when the API is
//! unreachable or refuses, the report says "not checked" and how to make the check possible;
//! that never fails the preflight.

use super::{Check, check};
use crate::alternating::partner_username;
use crate::rds::{ProxyLookupError, RdsDirectory, RdsProxy};
use crate::steps::Strategy;

/// How to list the proxies by hand, for every "not checked" fix.
const BY_HAND: &str = "or look for the secret's ARN in the `Auth` of each proxy: `aws rds \
                       describe-db-proxies --query \"DBProxies[].[DBProxyName,Auth[].SecretArn]\"`";

/// The check for the secret `secret_arn` (its full ARN), whose AWSCURRENT names `username`,
/// rotated with `strategy`. `route` is whether the stack opened a way to the RDS API.
pub async fn rds_proxy(
    rds: Option<&dyn RdsDirectory>,
    route: bool,
    secret_arn: &str,
    strategy: &Strategy,
    username: &str,
) -> Check {
    let listed = match rds {
        Some(rds) if route => rds.proxies().await,
        _ => Err(ProxyLookupError::NoRoute(
            "the stack opens the function no route to the RDS API (no `network.rds_endpoint`)"
                .into(),
        )),
    };
    judge(listed, secret_arn, strategy, username)
}

/// The check from what the listing gave: pure, so every outcome is tested offline.
pub fn judge(
    listed: Result<Vec<RdsProxy>, ProxyLookupError>,
    secret_arn: &str,
    strategy: &Strategy,
    username: &str,
) -> Check {
    let alternating = matches!(strategy, Strategy::AlternatingUsers { .. });
    let proxies = match listed {
        Ok(proxies) => proxies,
        Err(ProxyLookupError::NoRoute(why)) => {
            let detail = format!("not checked: {why}");
            let fix = format!(
                "Set `network.rds_endpoint` in the config so the preflight can list the RDS \
                 Proxies, {BY_HAND}."
            );
            // Alternating users is where a proxy breaks its clients: say so even unchecked.
            return if alternating {
                Check::warn(
                    check::RDS_PROXY,
                    format!(
                        "{detail}; if an RDS Proxy logs in with this alternating-users secret, \
                         its clients are refused after the next rotation"
                    ),
                    fix,
                )
            } else {
                Check {
                    fix: Some(fix),
                    ..Check::skip(check::RDS_PROXY, detail)
                }
            };
        }
        Err(ProxyLookupError::Unreachable(why)) => {
            return Check::warn(
                check::RDS_PROXY,
                format!("not checked: {why}"),
                format!(
                    "Check the function's way to the RDS API: the `rds` interface endpoint of \
                     `network.rds_endpoint` must admit the function's security group on 443 \
                     and its policy allow rds:DescribeDBProxies; {BY_HAND}."
                ),
            );
        }
        Err(ProxyLookupError::Denied(why)) => {
            return Check::warn(
                check::RDS_PROXY,
                format!("not checked: {why}"),
                format!(
                    "Allow the function's role rds:DescribeDBProxies on \
                     arn:PARTITION:rds:REGION:ACCOUNT:db-proxy:* (the stack's role has it with \
                     `network.rds_endpoint`; add it to an existing role), and to an existing \
                     `rds` endpoint's policy; {BY_HAND}."
                ),
            );
        }
        Err(ProxyLookupError::Failed(why)) => {
            return Check::warn(
                check::RDS_PROXY,
                format!("not checked: {why}"),
                format!("See the detail; {BY_HAND}."),
            );
        }
    };

    let serving: Vec<&RdsProxy> = proxies
        .iter()
        .filter(|p| {
            p.auth
                .iter()
                .filter_map(|a| a.secret_arn.as_deref())
                .any(|arn| names_secret(arn, secret_arn))
        })
        .collect();
    if serving.is_empty() {
        return Check::pass(
            check::RDS_PROXY,
            format!(
                "no RDS Proxy of this account and Region logs in with the secret ({} listed)",
                proxies.len()
            ),
        );
    }
    let named: Vec<String> = serving
        .iter()
        .map(|p| format!("`{}` ({}, {})", p.name, p.engine_family, p.status))
        .collect();
    let named = named.join(", ");
    if alternating {
        let partner = partner_username(username);
        Check::fail(
            check::RDS_PROXY,
            format!(
                "RDS Proxy {named} logs in with this secret as the user AWSCURRENT names \
                 (`{username}` now); the next rotation moves AWSCURRENT to `{partner}`, and once \
                 the proxy has read that, it refuses every client still connecting as \
                 `{username}`, though the database would let `{username}` in until the rotation \
                 after"
            ),
            "Rotate a secret that a proxy uses with single user (`strategy: single-user`, a \
             user that may change its own password): the proxy then follows the new password of \
             the same user. Or take the secret out of the proxy's Auth. A second secret with the \
             other user's credentials in the proxy's Auth does not help: a proxy reads only a \
             secret's AWSCURRENT value, and the rotation writes the other user's new password \
             only into this secret, so that second secret is wrong from the other user's next \
             password change (every second rotation) on.",
        )
    } else {
        Check::pass(
            check::RDS_PROXY,
            format!(
                "RDS Proxy {named} logs in with this secret as `{username}`, which a rotation \
                 keeps; the proxy reads the new password from the secret itself, and keeps the \
                 database connections it has open. Between the password change (setSecret) and \
                 the proxy's next read of the secret, which AWS does not bound, a connection \
                 the proxy opens to the database with the old password is refused: clients \
                 should retry a refused connection"
            ),
        )
    }
}

/// Whether the ARN a proxy's `Auth` holds names the secret whose full ARN is `secret_arn`:
/// the same ARN, or the partial one (without the `-` and six characters Secrets Manager
/// appends to the name). An ARN that ends like a suffix is taken as full, so a secret named
/// like another's full name is never taken for it.
pub fn names_secret(proxy_arn: &str, secret_arn: &str) -> bool {
    fn split_suffix(arn: &str) -> Option<&str> {
        let (name, suffix) = arn.split_at(arn.len().checked_sub(7)?);
        (suffix.starts_with('-') && suffix[1..].chars().all(|c| c.is_ascii_alphanumeric()))
            .then_some(name)
    }
    proxy_arn == secret_arn
        || (split_suffix(proxy_arn).is_none() && split_suffix(secret_arn) == Some(proxy_arn))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::Status;
    use crate::rds::ProxyAuth;

    const ARN: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:app-AbCdEf";
    const OTHER: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:other-XyZ123";

    fn proxy(name: &str, secrets: &[&str]) -> RdsProxy {
        RdsProxy {
            name: name.into(),
            engine_family: "POSTGRESQL".into(),
            status: "available".into(),
            default_auth_scheme: None,
            auth: secrets
                .iter()
                .map(|arn| ProxyAuth {
                    secret_arn: Some((*arn).into()),
                    iam_auth: Some("DISABLED".into()),
                    client_password_auth_type: None,
                })
                .collect(),
        }
    }

    fn alternating() -> Strategy {
        Strategy::AlternatingUsers {
            master_arn: "arn:aws:secretsmanager:us-east-1:123456789012:secret:master-AAAAAA".into(),
        }
    }

    #[test]
    fn alternating_users_behind_a_proxy_fail_with_the_fix() {
        let listed = Ok(vec![
            proxy("unrelated", &[OTHER]),
            proxy("orders", &[OTHER, ARN]),
        ]);
        let found = judge(listed, ARN, &alternating(), "app_clone");
        assert_eq!(found.status, Status::Fail, "{found:?}");
        assert!(found.detail.contains("`orders`"), "{found:?}");
        assert!(!found.detail.contains("unrelated"), "{found:?}");
        assert!(
            found.detail.contains("`app_clone` now") && found.detail.contains("to `app`"),
            "{found:?}"
        );
        let fix = found.fix.unwrap();
        assert!(
            fix.contains("single-user") && fix.contains("AWSCURRENT"),
            "{fix}"
        );
    }

    #[test]
    fn single_user_behind_a_proxy_passes_and_says_what_happens() {
        let found = judge(
            Ok(vec![proxy("orders", &[ARN])]),
            ARN,
            &Strategy::SingleUser,
            "app",
        );
        assert_eq!(found.status, Status::Pass);
        assert!(
            found.detail.contains("`orders`") && found.detail.contains("retry"),
            "{found:?}"
        );
    }

    #[test]
    fn no_proxy_of_the_secret_passes() {
        for strategy in [Strategy::SingleUser, alternating()] {
            let found = judge(Ok(vec![proxy("orders", &[OTHER])]), ARN, &strategy, "app");
            assert_eq!(found.status, Status::Pass);
            assert!(found.detail.contains("1 listed"), "{found:?}");
        }
    }

    #[test]
    fn a_partial_arn_in_the_proxy_still_names_the_secret() {
        let partial = "arn:aws:secretsmanager:us-east-1:123456789012:secret:app";
        assert!(names_secret(partial, ARN) && names_secret(ARN, ARN));
        assert!(!names_secret(OTHER, ARN));
        // A secret named like another's full name is another secret.
        assert!(!names_secret(
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:app-AbCdEf-QwErTy",
            ARN
        ));
        assert!(!names_secret(
            ARN,
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:app-AbCdEf-QwErTy"
        ));
        let found = judge(
            Ok(vec![proxy("orders", &[partial])]),
            ARN,
            &alternating(),
            "app",
        );
        assert_eq!(found.status, Status::Fail);
    }

    #[test]
    fn what_cannot_be_checked_never_fails() {
        let cases = [
            ProxyLookupError::Unreachable("no answer within 5 s".into()),
            ProxyLookupError::Denied("AccessDenied: not authorized".into()),
            ProxyLookupError::Failed("Throttling: slow down".into()),
        ];
        for failure in cases {
            for strategy in [Strategy::SingleUser, alternating()] {
                let found = judge(Err(failure.clone()), ARN, &strategy, "app");
                assert_eq!(found.status, Status::Warn, "{found:?}");
                assert!(found.detail.starts_with("not checked"), "{found:?}");
                assert!(found.fix.unwrap().contains("describe-db-proxies"));
            }
        }
        let denied = judge(
            Err(ProxyLookupError::Denied("AccessDenied".into())),
            ARN,
            &Strategy::SingleUser,
            "app",
        );
        assert!(denied.fix.unwrap().contains("db-proxy:*"));
    }

    #[test]
    fn without_a_route_single_user_skips_and_alternating_users_warn() {
        let no_route = || Err(ProxyLookupError::NoRoute("no route".into()));
        let single = judge(no_route(), ARN, &Strategy::SingleUser, "app");
        assert_eq!(single.status, Status::Skip);
        assert!(single.fix.unwrap().contains("network.rds_endpoint"));
        let pair = judge(no_route(), ARN, &alternating(), "app");
        assert_eq!(pair.status, Status::Warn);
        assert!(pair.detail.contains("refused"), "{pair:?}");
    }
}
