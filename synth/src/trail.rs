//! Whether the stack's rotation-failure alerts can fire at all.
//!
//! The stack's `RotationFailedRule` matches the events Secrets Manager records in CloudTrail
//! (`RotationFailed`, `TestRotationFailed`); EventBridge only sees them when a trail logs in the
//! stack's Region. The function cannot ask (its network reaches only the databases and Secrets
//! Manager), so `synth preflight` does, with the operator's credentials: a trail of that Region,
//! or a multi-Region trail, that is logging. Without one, failures still show in the function's
//! Errors alarm, but the rule stays silent.

/// A trail as CloudTrail describes it, with its logging status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trail {
    pub name: String,
    pub home_region: String,
    pub multi_region: bool,
    /// `None` when its status could not be read.
    pub logging: Option<bool>,
}

/// What the trails mean for the stack's Region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrailCheck {
    /// These trails log the Region's events.
    Logging(Vec<String>),
    /// No trail logs the Region's events: the failure rule never fires.
    NotLogged,
    /// CloudTrail could not be asked (permissions, network), or a trail's status is unknown.
    Unknown(String),
}

impl TrailCheck {
    /// Decides from the trails CloudTrail listed (shadow trails of other Regions included).
    pub fn of(region: &str, trails: &[Trail]) -> Self {
        let covering: Vec<&Trail> = trails
            .iter()
            .filter(|t| t.multi_region || t.home_region == region)
            .collect();
        let logging: Vec<String> = covering
            .iter()
            .filter(|t| t.logging == Some(true))
            .map(|t| t.name.clone())
            .collect();
        if !logging.is_empty() {
            return Self::Logging(logging);
        }
        match covering.iter().find(|t| t.logging.is_none()) {
            Some(t) => Self::Unknown(format!(
                "the status of trail `{}` could not be read",
                t.name
            )),
            None => Self::NotLogged,
        }
    }

    /// Whether this is a problem worth a non-zero exit.
    pub fn is_problem(&self) -> bool {
        matches!(self, Self::NotLogged)
    }

    /// One line for the operator.
    pub fn line(&self, region: &str) -> String {
        match self {
            Self::Logging(names) => format!(
                "cloudtrail: pass  trail {} logs {region}: a failed rotation reaches the alarm topic",
                names
                    .iter()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Self::NotLogged => format!(
                "cloudtrail: fail  no trail logs {region}: the stack's RotationFailedRule never \
                 fires (failed steps still raise the Errors alarm); create a trail that logs \
                 management events in {region}, or a multi-Region one"
            ),
            Self::Unknown(why) => format!(
                "cloudtrail: warn  {why}; check that a trail logs {region} (the stack's \
                 RotationFailedRule needs one), and that you may call cloudtrail:DescribeTrails \
                 and cloudtrail:GetTrailStatus"
            ),
        }
    }
}

/// Asks CloudTrail, through the AWS SDK, for the trails that log `region`.
#[cfg(feature = "preflight")]
pub async fn check(sdk: &aws_config::SdkConfig, region: &str) -> TrailCheck {
    use aws_sdk_cloudtrail::error::DisplayErrorContext;

    let client = aws_sdk_cloudtrail::Client::new(sdk);
    let listed = match client
        .describe_trails()
        .include_shadow_trails(true)
        .send()
        .await
    {
        Ok(out) => out,
        Err(e) => {
            return TrailCheck::Unknown(format!(
                "CloudTrail DescribeTrails failed: {}",
                DisplayErrorContext(&e)
            ));
        }
    };
    let mut trails = Vec::new();
    for t in listed.trail_list() {
        let (Some(name), Some(home)) = (t.name(), t.home_region()) else {
            continue;
        };
        let multi_region = t.is_multi_region_trail().unwrap_or(false);
        if !(multi_region || home == region) {
            continue;
        }
        let id = t.trail_arn().unwrap_or(name);
        let logging = client
            .get_trail_status()
            .name(id)
            .send()
            .await
            .ok()
            .and_then(|s| s.is_logging());
        trails.push(Trail {
            name: name.to_owned(),
            home_region: home.to_owned(),
            multi_region,
            logging,
        });
    }
    TrailCheck::of(region, &trails)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trail(name: &str, home: &str, multi: bool, logging: Option<bool>) -> Trail {
        Trail {
            name: name.into(),
            home_region: home.into(),
            multi_region: multi,
            logging,
        }
    }

    #[test]
    fn a_logging_trail_of_the_region_or_of_all_regions_passes() {
        let here = [trail("audit", "eu-west-1", false, Some(true))];
        assert_eq!(
            TrailCheck::of("eu-west-1", &here),
            TrailCheck::Logging(vec!["audit".into()])
        );
        let everywhere = [trail("org", "us-east-1", true, Some(true))];
        assert!(matches!(
            TrailCheck::of("eu-west-1", &everywhere),
            TrailCheck::Logging(_)
        ));
    }

    #[test]
    fn no_trail_a_stopped_one_or_another_regions_fails() {
        for trails in [
            vec![],
            vec![trail("audit", "eu-west-1", false, Some(false))],
            vec![trail("audit", "us-east-1", false, Some(true))],
        ] {
            let check = TrailCheck::of("eu-west-1", &trails);
            assert_eq!(check, TrailCheck::NotLogged, "{trails:?}");
            assert!(check.is_problem());
            assert!(check.line("eu-west-1").contains("never fires"));
        }
    }

    #[test]
    fn an_unreadable_status_is_a_warning_not_a_failure() {
        let check = TrailCheck::of("eu-west-1", &[trail("audit", "eu-west-1", false, None)]);
        assert!(matches!(check, TrailCheck::Unknown(_)));
        assert!(!check.is_problem());
        assert!(check.line("eu-west-1").starts_with("cloudtrail: warn"));
    }
}
