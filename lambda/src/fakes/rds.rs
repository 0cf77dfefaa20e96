//! The in-memory RDS API: where an RDS-managed master secret's database is, and which RDS
//! Proxies log in with which secret.

use super::*;

/// RDS databases by instance or cluster ARN, for RDS-managed master secrets; the account's
/// proxies.
#[derive(Debug, Clone, Default)]
pub struct MemoryRds {
    pub databases: BTreeMap<String, RdsDatabase>,
    pub proxies: Vec<RdsProxy>,
    /// When set, listing the proxies fails with it.
    pub proxy_failure: Option<ProxyLookupError>,
}

impl MemoryRds {
    pub fn with(mut self, database: RdsDatabase) -> Self {
        self.databases.insert(database.arn.clone(), database);
        self
    }

    pub fn with_proxy(mut self, proxy: RdsProxy) -> Self {
        self.proxies.push(proxy);
        self
    }

    /// Every proxy listing fails with `failure`.
    pub fn failing_proxies(mut self, failure: ProxyLookupError) -> Self {
        self.proxy_failure = Some(failure);
        self
    }

    fn find(&self, arn: &str, what: &str) -> Result<RdsDatabase, String> {
        self.databases
            .get(arn)
            .cloned()
            .ok_or_else(|| format!("{what}NotFound: `{arn}` not found"))
    }

    /// Whether `host` is one of the known databases' names.
    pub fn knows(&self, host: &str) -> bool {
        self.databases
            .values()
            .any(|db| db.hosts.iter().any(|h| same_host(h, host)))
    }
}

#[async_trait]
impl RdsDirectory for MemoryRds {
    async fn instance(&self, arn: &str) -> Result<RdsDatabase, String> {
        self.find(arn, "DBInstance")
    }

    async fn cluster(&self, arn: &str) -> Result<RdsDatabase, String> {
        self.find(arn, "DBCluster")
    }

    async fn proxies(&self) -> Result<Vec<RdsProxy>, ProxyLookupError> {
        match &self.proxy_failure {
            Some(failure) => Err(failure.clone()),
            None => Ok(self.proxies.clone()),
        }
    }
}
