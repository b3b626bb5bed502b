//! The functions' logs, kept per function so a failing test can print them.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
};

/// Most lines kept per function; older lines are dropped first.
const MAX_LINES: usize = 20_000;

/// Log lines of every function the executor ran, keyed by `account/region/function`.
#[derive(Debug, Clone, Default)]
pub(crate) struct LogStore {
    inner: Arc<Mutex<BTreeMap<String, Vec<String>>>>,
}

/// The key of a function's logs.
pub(crate) fn function_key(account: &str, region: &str, function: &str) -> String {
    format!("{account}/{region}/{function}")
}

impl LogStore {
    /// Appends one line to the function's log.
    pub(crate) fn push(&self, key: &str, line: String) {
        let mut map = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let lines = map.entry(key.to_owned()).or_default();
        if lines.len() >= MAX_LINES {
            lines.drain(..MAX_LINES / 10);
        }
        lines.push(line);
    }

    /// The function's log, one line per line.
    pub(crate) fn get(&self, key: &str) -> String {
        let map = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        map.get(key).map(|l| l.join("\n")).unwrap_or_default()
    }

    /// Every function log under a key prefix (an account), headed by the function's key.
    pub(crate) fn all_under(&self, prefix: &str) -> String {
        let map = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = String::new();
        for (key, lines) in map.range(prefix.to_owned()..) {
            if !key.starts_with(prefix) {
                break;
            }
            out.push_str(&format!("--- log of {key} ---\n"));
            for line in lines {
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_are_kept_per_function_and_listed_per_account() {
        let store = LogStore::default();
        store.push(&function_key("111", "us-east-1", "a"), "one".into());
        store.push(&function_key("111", "us-east-1", "a"), "two".into());
        store.push(&function_key("222", "us-east-1", "b"), "other".into());
        assert_eq!(
            store.get(&function_key("111", "us-east-1", "a")),
            "one\ntwo"
        );
        let all = store.all_under("111/");
        assert!(all.contains("one\ntwo"), "{all}");
        assert!(!all.contains("other"), "{all}");
    }
}
