//! The in-memory RDS API: where an RDS-managed master secret's database is.

use super::*;

/// RDS databases by instance or cluster ARN, for RDS-managed master secrets.
#[derive(Debug, Clone, Default)]
pub struct MemoryRds {
    pub databases: BTreeMap<String, RdsDatabase>,
}

impl MemoryRds {
    pub fn with(mut self, database: RdsDatabase) -> Self {
        self.databases.insert(database.arn.clone(), database);
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
}
