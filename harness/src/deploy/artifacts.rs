//! Built function code, addressed the way `sam package` addresses uploads: a bucket and a key.
//! vpclab keeps the zips in memory under a reserved bucket name instead of uploading them.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
};

/// The bucket name that marks code built by vpclab.
pub(crate) const ARTIFACT_BUCKET: &str = "vpclab-local-artifacts";

/// Zips by key, shared by the stacks of one world.
#[derive(Debug, Clone, Default)]
pub(crate) struct ArtifactStore {
    zips: Arc<Mutex<BTreeMap<String, Arc<Vec<u8>>>>>,
}

impl ArtifactStore {
    /// Stores a zip and returns its key.
    pub(crate) fn put(&self, name: &str, zip: Vec<u8>) -> String {
        let mut zips = self.zips.lock().unwrap_or_else(|e| e.into_inner());
        let key = format!("{name}/{}.zip", zips.len());
        zips.insert(key.clone(), Arc::new(zip));
        key
    }

    /// The zip stored under a key.
    pub(crate) fn get(&self, key: &str) -> Option<Vec<u8>> {
        let zips = self.zips.lock().unwrap_or_else(|e| e.into_inner());
        zips.get(key).map(|z| z.as_ref().clone())
    }
}
