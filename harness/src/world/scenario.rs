//! Scenarios: one folder per pattern under `scenarios/`, holding its templates and a
//! `scenario.yaml` that says which stacks to deploy, in which order, with which parameters.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use serde::Deserialize;

/// A scenario as written in its `scenario.yaml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// The scenario's name (its folder's name).
    pub name: String,
    /// The seed document it realises.
    pub seed: String,
    /// One line on what it shows.
    pub description: String,
    /// Stacks to deploy, in order.
    pub stacks: Vec<ScenarioStack>,
    #[serde(skip)]
    dir: PathBuf,
}

/// One stack of a scenario.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioStack {
    /// Stack name.
    pub name: String,
    /// Template file, relative to the scenario folder.
    pub template: PathBuf,
    /// Parameter values.
    #[serde(default)]
    pub parameters: BTreeMap<String, String>,
}

/// Errors loading a scenario.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// No folder of that name.
    #[error("unknown scenario `{name}`; known scenarios: {known} (in {dir})")]
    Unknown {
        /// The name asked for.
        name: String,
        /// The scenarios that exist.
        known: String,
        /// Where they were looked for.
        dir: String,
    },
    /// The `scenario.yaml` is malformed.
    #[error("{path}: {reason}")]
    Malformed {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

impl Scenario {
    /// Loads `scenarios_dir/<name>/scenario.yaml`.
    pub fn load(scenarios_dir: &Path, name: &str) -> Result<Self, ScenarioError> {
        let dir = scenarios_dir.join(name);
        let path = dir.join("scenario.yaml");
        let text = std::fs::read_to_string(&path).map_err(|_| ScenarioError::Unknown {
            name: name.to_owned(),
            known: known(scenarios_dir).join(", "),
            dir: scenarios_dir.display().to_string(),
        })?;
        let mut scenario: Scenario =
            serde_yaml::from_str(&text).map_err(|e| ScenarioError::Malformed {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?;
        if scenario.name != name {
            return Err(ScenarioError::Malformed {
                path: path.display().to_string(),
                reason: format!("name `{}` differs from its folder `{name}`", scenario.name),
            });
        }
        scenario.dir = dir;
        Ok(scenario)
    }

    /// The scenario's folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// The scenario folders under a directory, sorted.
pub fn known(scenarios_dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(scenarios_dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().join("scenario.yaml").exists())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    names
}
