//! [`AuditTree`] in memory: one [`MemoryTree`](support_access_core::tlog::MemoryTree)
//! per org, appended under the store's lock with each event (`State::append`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use support_access_core::StoreError;
use support_access_core::ids::OrgId;
use support_access_core::tlog::{
    AuditTree, GrownLog, HashReader, NodeId, StoredCheckpoint, TreeHash, TreeHead,
};

use super::InMemoryStore;

#[async_trait]
impl AuditTree for InMemoryStore {
    async fn tree_head(&self, org: &OrgId) -> Result<TreeHead, StoreError> {
        let state = self.lock()?;
        Ok(state
            .trees
            .get(org)
            .map_or(TreeHead::EMPTY, |tree| TreeHead {
                size: tree.size(),
                root: tree.root(),
            }))
    }

    async fn read_nodes(
        &self,
        org: &OrgId,
        nodes: &[NodeId],
    ) -> Result<Vec<Option<TreeHash>>, StoreError> {
        let state = self.lock()?;
        let tree = state.trees.get(org);
        Ok(nodes
            .iter()
            .map(|id| {
                tree.and_then(|tree| tree.read_hashes(std::slice::from_ref(id)).ok())
                    .and_then(|hashes| hashes.first().copied())
            })
            .collect())
    }

    async fn save_checkpoint(&self, checkpoint: &StoredCheckpoint) -> Result<(), StoreError> {
        self.stalled().await;
        let mut state = self.lock()?;
        let stored = state.checkpoints.entry(checkpoint.org.clone()).or_default();
        if stored.contains_key(&checkpoint.size) {
            return Err(StoreError::Conflict(format!(
                "org {} already has a checkpoint of size {}",
                checkpoint.org, checkpoint.size
            )));
        }
        stored.insert(checkpoint.size, checkpoint.clone());
        Ok(())
    }

    async fn latest_checkpoint(&self, org: &OrgId) -> Result<Option<StoredCheckpoint>, StoreError> {
        let state = self.lock()?;
        Ok(state
            .checkpoints
            .get(org)
            .and_then(|stored| stored.last_key_value())
            .map(|(_, checkpoint)| checkpoint.clone()))
    }

    async fn checkpoint_at(
        &self,
        org: &OrgId,
        size: u64,
    ) -> Result<Option<StoredCheckpoint>, StoreError> {
        let state = self.lock()?;
        Ok(state
            .checkpoints
            .get(org)
            .and_then(|stored| stored.get(&size))
            .cloned())
    }

    async fn grown_logs(
        &self,
        checkpointed_by: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<GrownLog>, StoreError> {
        let state = self.lock()?;
        let mut grown: Vec<GrownLog> = state
            .trees
            .iter()
            .filter_map(|(org, tree)| {
                let last = state
                    .checkpoints
                    .get(org)
                    .and_then(|stored| stored.last_key_value())
                    .map(|(size, checkpoint)| (*size, checkpoint.made_at));
                let grown = tree.size() > last.map_or(0, |(size, _)| size);
                let old = last.is_none_or(|(_, made_at)| made_at <= checkpointed_by);
                (grown && old).then(|| GrownLog {
                    org: org.clone(),
                    head: TreeHead {
                        size: tree.size(),
                        root: tree.root(),
                    },
                    last_checkpoint: last,
                })
            })
            .collect();
        grown.sort_by(|a, b| a.org.cmp(&b.org));
        grown.truncate(limit as usize);
        Ok(grown)
    }
}
