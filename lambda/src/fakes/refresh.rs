//! The in-memory ECS and Lambda APIs: services that count their deployments, functions whose
//! description changes, and targets that fail or never answer on demand.

use std::time::Duration;

use crate::refresh::{
    RefreshFailure, Refreshed, Refresher, Target, TargetKind, marked_description,
};

use super::*;

/// One ECS service or Lambda function as the fake keeps it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemoryApp {
    /// ECS: the deployments started (`UpdateService` with `forceNewDeployment`).
    pub deployments: usize,
    /// Lambda: the description, and how many times the configuration was updated.
    pub description: String,
    pub updates: usize,
}

/// How a target misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppFault {
    /// The next `n` calls fail with a throttling error (retryable).
    Throttled(usize),
    /// Every call is refused (access denied: not retryable).
    Denied,
    /// Every call hangs (longer than any attempt timeout).
    Hangs,
}

#[derive(Debug, Default)]
struct AppsState {
    apps: BTreeMap<String, MemoryApp>,
    faults: BTreeMap<String, AppFault>,
    /// Every call, in order: (ARN, version).
    calls: Vec<(String, String)>,
}

/// ECS services and Lambda functions by ARN; clones share the state.
#[derive(Debug, Clone, Default)]
pub struct MemoryApps {
    state: Arc<Mutex<AppsState>>,
}

impl MemoryApps {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a service or function (its description empty).
    pub fn with_app(self, arn: &str, description: &str) -> Self {
        lock(&self.state).apps.insert(
            arn.to_owned(),
            MemoryApp {
                description: description.to_owned(),
                ..MemoryApp::default()
            },
        );
        self
    }

    pub fn set_fault(&self, arn: &str, fault: AppFault) {
        lock(&self.state).faults.insert(arn.to_owned(), fault);
    }

    pub fn app(&self, arn: &str) -> Option<MemoryApp> {
        lock(&self.state).apps.get(arn).cloned()
    }

    /// Every call made, in order: (ARN, version).
    pub fn calls(&self) -> Vec<(String, String)> {
        lock(&self.state).calls.clone()
    }
}

#[async_trait]
impl Refresher for MemoryApps {
    async fn refresh(&self, target: &Target, version: &str) -> Result<Refreshed, RefreshFailure> {
        let fault = {
            let mut state = lock(&self.state);
            state.calls.push((target.arn.clone(), version.to_owned()));
            let fault = state.faults.get(&target.arn).copied();
            if let Some(AppFault::Throttled(n)) = fault {
                let left = n.saturating_sub(1);
                if left == 0 {
                    state.faults.remove(&target.arn);
                } else {
                    state
                        .faults
                        .insert(target.arn.clone(), AppFault::Throttled(left));
                }
            }
            fault
        };
        match fault {
            Some(AppFault::Hangs) => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                unreachable!("the attempt times out first")
            }
            Some(AppFault::Throttled(_)) => {
                return Err(RefreshFailure {
                    problem: "ThrottlingException: Rate exceeded".into(),
                    retryable: true,
                });
            }
            Some(AppFault::Denied) => {
                return Err(RefreshFailure {
                    problem: "AccessDeniedException: not authorized".into(),
                    retryable: false,
                });
            }
            None => {}
        }
        let mut state = lock(&self.state);
        let Some(app) = state.apps.get_mut(&target.arn) else {
            return Err(RefreshFailure {
                problem: format!("ResourceNotFoundException: `{}` not found", target.arn),
                retryable: false,
            });
        };
        match target.kind {
            TargetKind::EcsService => {
                app.deployments += 1;
                Ok(Refreshed::Done)
            }
            TargetKind::LambdaFunction => match marked_description(&app.description, version) {
                None => Ok(Refreshed::AlreadyDone),
                Some(description) => {
                    app.description = description;
                    app.updates += 1;
                    Ok(Refreshed::Done)
                }
            },
        }
    }
}
