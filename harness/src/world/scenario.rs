//! Scenarios: one folder per pattern under `scenarios/`, holding its templates and a
//! `scenario.yaml` that says which stacks to deploy, in which order, in which region, with
//! which parameters. A parameter may take an earlier stack's output: `${stack.OutputKey}`.

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
    /// Parameter values; `${stack.OutputKey}` stands for an earlier stack's output.
    #[serde(default)]
    pub parameters: BTreeMap<String, String>,
    /// The region to deploy into (default: the world's home region).
    #[serde(default)]
    pub region: Option<String>,
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
    /// A parameter's `${stack.OutputKey}` names an output that the stack does not have.
    #[error(
        "scenario {scenario}, stack {stack}, parameter {parameter}: `{reference}`: {problem}; \
         fix the reference in scenario.yaml"
    )]
    Reference {
        /// The scenario.
        scenario: String,
        /// The stack whose parameter holds the reference.
        stack: String,
        /// The parameter.
        parameter: String,
        /// The reference as written.
        reference: String,
        /// What is wrong: the stack or output that does not exist, and what does.
        problem: String,
    },
    /// The world has no stack of that name in the scenario.
    #[error("scenario {scenario} has no stack {stack}; it has: {known}")]
    UnknownStack {
        /// The scenario.
        scenario: String,
        /// The stack asked for.
        stack: String,
        /// Its stacks.
        known: String,
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
        scenario.check_references()?;
        Ok(scenario)
    }

    /// The stack called `name`.
    pub fn stack(&self, name: &str) -> Result<&ScenarioStack, ScenarioError> {
        self.stacks
            .iter()
            .find(|s| s.name == name)
            .ok_or_else(|| ScenarioError::UnknownStack {
                scenario: self.name.clone(),
                stack: name.to_owned(),
                known: self.stack_names(),
            })
    }

    fn stack_names(&self) -> String {
        self.stacks
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Refuses references to stacks that are not deployed before the one that holds them.
    fn check_references(&self) -> Result<(), ScenarioError> {
        for (position, stack) in self.stacks.iter().enumerate() {
            let earlier = &self.stacks[..position];
            for (parameter, value) in &stack.parameters {
                for reference in references(value) {
                    let (source, _) = split_reference(reference);
                    if !earlier.iter().any(|s| s.name == source) {
                        return Err(self.reference_error(
                            stack,
                            parameter,
                            reference,
                            format!(
                                "no stack {source} is deployed before {}; earlier stacks: {}",
                                stack.name,
                                if earlier.is_empty() {
                                    "none".to_owned()
                                } else {
                                    earlier
                                        .iter()
                                        .map(|s| s.name.as_str())
                                        .collect::<Vec<_>>()
                                        .join(", ")
                                }
                            ),
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    fn reference_error(
        &self,
        stack: &ScenarioStack,
        parameter: &str,
        reference: &str,
        problem: String,
    ) -> ScenarioError {
        ScenarioError::Reference {
            scenario: self.name.clone(),
            stack: stack.name.clone(),
            parameter: parameter.to_owned(),
            reference: format!("${{{reference}}}"),
            problem,
        }
    }

    /// `stack`'s parameters with every `${stack.OutputKey}` replaced by that output, from
    /// `outputs` (by stack, by key).
    pub fn parameters_of(
        &self,
        stack: &ScenarioStack,
        outputs: &BTreeMap<String, BTreeMap<String, String>>,
    ) -> Result<BTreeMap<String, String>, ScenarioError> {
        let mut resolved = BTreeMap::new();
        for (parameter, value) in &stack.parameters {
            let mut text = value.clone();
            for reference in references(value) {
                let (source, key) = split_reference(reference);
                let found = outputs.get(source).ok_or_else(|| {
                    let deployed = outputs.keys().cloned().collect::<Vec<_>>().join(", ");
                    self.reference_error(
                        stack,
                        parameter,
                        reference,
                        format!("stack {source} is not deployed (deployed: {deployed})"),
                    )
                })?;
                let output = found.get(key).ok_or_else(|| {
                    let keys = found.keys().cloned().collect::<Vec<_>>().join(", ");
                    self.reference_error(
                        stack,
                        parameter,
                        reference,
                        format!("stack {source} has no output {key}; it has: {keys}"),
                    )
                })?;
                text = text.replace(&format!("${{{reference}}}"), output);
            }
            resolved.insert(parameter.clone(), text);
        }
        Ok(resolved)
    }

    /// The scenario's folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// The `stack.OutputKey` inside each `${...}` of `value`.
fn references(value: &str) -> Vec<&str> {
    let mut found = Vec::new();
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else { break };
        found.push(&after[..end]);
        rest = &after[end + 1..];
    }
    found
}

/// `stack.OutputKey` -> (`stack`, `OutputKey`); without a dot the key is empty.
fn split_reference(reference: &str) -> (&str, &str) {
    reference.rsplit_once('.').unwrap_or((reference, ""))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(yaml: &str) -> Scenario {
        serde_yaml::from_str(yaml).expect("scenario yaml")
    }

    const TWO: &str = "name: s\nseed: '003'\ndescription: d\nstacks:\n  - name: a\n    template: a.yaml\n    region: eu-west-1\n  - name: b\n    template: b.yaml\n    parameters:\n      ApiId: ${a.ApiId}\n      Url: https://${a.ApiId}.example/${a.Stage}\n";

    #[test]
    fn references_take_earlier_outputs() {
        let s = scenario(TWO);
        s.check_references().unwrap();
        assert_eq!(s.stacks[0].region.as_deref(), Some("eu-west-1"));
        let outputs = BTreeMap::from([(
            "a".to_owned(),
            BTreeMap::from([
                ("ApiId".into(), "x1".into()),
                ("Stage".into(), "prod".into()),
            ]),
        )]);
        let resolved = s.parameters_of(&s.stacks[1], &outputs).unwrap();
        assert_eq!(resolved["ApiId"], "x1");
        assert_eq!(resolved["Url"], "https://x1.example/prod");
    }

    #[test]
    fn a_mistyped_output_names_the_stack_parameter_and_fix() {
        let s = scenario(&TWO.replace("${a.ApiId}\n", "${a.ApiID}\n"));
        let outputs = BTreeMap::from([(
            "a".to_owned(),
            BTreeMap::from([("ApiId".into(), "x1".into())]),
        )]);
        let error = s
            .parameters_of(&s.stacks[1], &outputs)
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            "scenario s, stack b, parameter ApiId: `${a.ApiID}`: stack a has no output ApiID; \
             it has: ApiId; fix the reference in scenario.yaml"
        );
    }

    #[test]
    fn a_reference_to_a_later_or_unknown_stack_is_refused_at_load() {
        let s = scenario(&TWO.replace("${a.ApiId}\n", "${c.ApiId}\n"));
        let error = s.check_references().unwrap_err().to_string();
        assert!(
            error.contains(
                "parameter ApiId: `${c.ApiId}`: no stack c is deployed before b; earlier stacks: a"
            ),
            "{error}"
        );
    }
}
