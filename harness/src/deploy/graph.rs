//! The dependency graph between resources: which logical ids a value refers to, and an order in
//! which resources can be created (deletion is the reverse).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::template::ResourceSpec;

/// A resource graph that cannot be ordered.
#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    /// A `Ref`, `Fn::GetAtt` or `${...}` naming nothing the template declares.
    #[error(
        "Resources.{resource} refers to `{name}`, which is neither a resource nor a parameter of this template"
    )]
    UnknownReference {
        /// The resource holding the reference.
        resource: String,
        /// The unknown name.
        name: String,
    },
    /// `DependsOn` naming a resource the template does not declare.
    #[error(
        "Resources.{resource}.DependsOn names `{name}`, which is not a resource of this template"
    )]
    UnknownDependsOn {
        /// The resource holding the `DependsOn`.
        resource: String,
        /// The unknown name.
        name: String,
    },
    /// Resources that depend on each other in a loop.
    #[error("resources depend on each other in a cycle: {}", resources.join(" -> "))]
    Cycle {
        /// The resources in the cycle, the first repeated at the end.
        resources: Vec<String>,
    },
}

/// Logical ids a resource (its Properties, DependsOn, Fn::If/Sub contents...) refers to.
///
/// Collects `Ref` targets, `Fn::GetAtt` targets and the names inside `Fn::Sub` strings
/// (`${X}` and `${X.Attr}`), leaving out `${!x}` escapes, `AWS::` pseudo parameters and names
/// defined in the `Fn::Sub` variable map. Parameters are included: callers tell them apart.
pub(crate) fn references(value: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    collect(value, &mut out);
    out
}

/// Adds the references inside `value` to `out`.
fn collect(value: &Value, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) if map.len() == 1 => {
            let Some((key, arg)) = map.iter().next() else {
                return;
            };
            match (key.as_str(), arg) {
                ("Ref", Value::String(target)) => add(target, out),
                ("Fn::GetAtt", Value::String(target)) => {
                    add(
                        target.split_once('.').map_or(target.as_str(), |(r, _)| r),
                        out,
                    );
                }
                ("Fn::GetAtt", Value::Array(items)) => {
                    if let Some(Value::String(target)) = items.first() {
                        add(target, out);
                    }
                    items.iter().skip(1).for_each(|item| collect(item, out));
                }
                ("Fn::Sub", Value::String(template)) => sub_names(template, None, out),
                ("Fn::Sub", Value::Array(items)) => {
                    let variables = items.get(1).and_then(Value::as_object);
                    match items.first() {
                        Some(Value::String(template)) => sub_names(template, variables, out),
                        Some(other) => collect(other, out),
                        None => {}
                    }
                    items.iter().skip(1).for_each(|item| collect(item, out));
                }
                _ => collect(arg, out),
            }
        }
        Value::Object(map) => map.values().for_each(|item| collect(item, out)),
        Value::Array(items) => items.iter().for_each(|item| collect(item, out)),
        _ => {}
    }
}

/// Records a referenced name unless it is a pseudo parameter.
fn add(name: &str, out: &mut BTreeSet<String>) {
    if !name.starts_with("AWS::") && !name.is_empty() {
        out.insert(name.to_owned());
    }
}

/// The logical ids named by `${...}` in an `Fn::Sub` template.
fn sub_names(
    template: &str,
    variables: Option<&serde_json::Map<String, Value>>,
    out: &mut BTreeSet<String>,
) {
    for name in sub_placeholders(template, variables) {
        add(name.split_once('.').map_or(name, |(r, _)| r), out);
    }
}

/// The names inside `${...}` of an `Fn::Sub` template (`X` or `X.Attr`), leaving out `${!x}`
/// escapes, the variable map's names and pseudo parameters.
fn sub_placeholders<'t>(
    template: &'t str,
    variables: Option<&serde_json::Map<String, Value>>,
) -> Vec<&'t str> {
    let mut names = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        if let Some(literal) = after.strip_prefix('!') {
            rest = literal;
            continue;
        }
        let Some(end) = after.find('}') else {
            break;
        };
        let name = after[..end].trim();
        rest = &after[end + 1..];
        if !(variables.is_some_and(|v| v.contains_key(name)) || name.starts_with("AWS::")) {
            names.push(name);
        }
    }
    names
}

/// Which attributes of one resource a template reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AttributeReads {
    /// These, by name.
    Named(BTreeSet<String>),
    /// Any: an attribute name is computed (`!GetAtt [X, !Ref Name]`).
    Any,
}

impl AttributeReads {
    /// Whether `attribute` may be read.
    pub(crate) fn reads(&self, attribute: &str) -> bool {
        match self {
            Self::Named(names) => names.contains(attribute),
            Self::Any => true,
        }
    }

    fn add(&mut self, attribute: Option<&str>) {
        match (self, attribute) {
            (Self::Named(names), Some(name)) => {
                names.insert(name.to_owned());
            }
            (this, None) => *this = Self::Any,
            (Self::Any, Some(_)) => {}
        }
    }
}

/// The attributes each resource has read of it anywhere in `document` (`Fn::GetAtt` and
/// `${X.Attr}` in `Fn::Sub`), by logical id; a resource not listed has none read.
///
/// An `Fn::Sub` whose template is itself computed is read through its string literals; when
/// part of it is known only at deploy time (a `Ref`, `Fn::FindInMap`, ...), any attribute of
/// any resource may be read.
pub(crate) fn attributes_read(document: &Value) -> BTreeMap<String, AttributeReads> {
    let mut out = BTreeMap::new();
    if collect_attributes(document, &mut out) == Unseen::Some {
        let resources = document.get("Resources").and_then(Value::as_object);
        for name in resources.into_iter().flat_map(|r| r.keys()) {
            read(&mut out, name, None);
        }
    }
    out
}

/// Whether a walk met an `Fn::Sub` template it could not read whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unseen {
    None,
    Some,
}

impl Unseen {
    fn or(self, other: Self) -> Self {
        if self == Self::Some { self } else { other }
    }
}

fn read(out: &mut BTreeMap<String, AttributeReads>, resource: &str, attribute: Option<&str>) {
    out.entry(resource.to_owned())
        .or_insert_with(|| AttributeReads::Named(BTreeSet::new()))
        .add(attribute);
}

/// Adds the attribute reads inside `value` to `out`.
fn collect_attributes(value: &Value, out: &mut BTreeMap<String, AttributeReads>) -> Unseen {
    let intrinsic = match value {
        Value::Object(map) if map.len() == 1 => map.iter().next(),
        _ => None,
    };
    match intrinsic.map(|(key, arg)| (key.as_str(), arg)) {
        Some(("Fn::GetAtt", Value::String(target))) => {
            if let Some((resource, attribute)) = target.split_once('.') {
                read(out, resource, Some(attribute));
            }
            Unseen::None
        }
        Some(("Fn::GetAtt", Value::Array(items))) => {
            if let Some(Value::String(resource)) = items.first() {
                read(out, resource, items.get(1).and_then(Value::as_str));
            }
            collect_all(items.iter().skip(1), out)
        }
        Some(("Fn::Sub", arg)) => {
            let (template, variables) = match arg {
                Value::Array(items) => (items.first(), items.get(1)),
                other => (Some(other), None),
            };
            let variables_map = variables.and_then(Value::as_object);
            let unseen = template.map_or(Unseen::None, |t| sub_template(t, variables_map, out));
            unseen.or(collect_all(variables, out))
        }
        _ => match value {
            Value::Object(map) => collect_all(map.values(), out),
            Value::Array(items) => collect_all(items, out),
            _ => Unseen::None,
        },
    }
}

/// [`collect_attributes`] over several values.
fn collect_all<'v>(
    values: impl IntoIterator<Item = &'v Value>,
    out: &mut BTreeMap<String, AttributeReads>,
) -> Unseen {
    values.into_iter().fold(Unseen::None, |unseen, v| {
        unseen.or(collect_attributes(v, out))
    })
}

/// The reads of an `Fn::Sub` template: its placeholders when it is a string, those of every
/// string literal in it when it is computed (`Fn::If`, `Fn::Join`, ...), and [`Unseen::Some`]
/// when part of it is known only at deploy time.
fn sub_template(
    template: &Value,
    variables: Option<&serde_json::Map<String, Value>>,
    out: &mut BTreeMap<String, AttributeReads>,
) -> Unseen {
    match template {
        Value::String(text) => {
            for name in sub_placeholders(text, variables) {
                if let Some((resource, attribute)) = name.split_once('.') {
                    read(out, resource, Some(attribute));
                }
            }
            Unseen::None
        }
        Value::Array(items) => items.iter().fold(Unseen::None, |unseen, item| {
            unseen.or(sub_template(item, variables, out))
        }),
        Value::Object(map) => {
            let known = map.len() == 1
                && map
                    .keys()
                    .all(|k| matches!(k.as_str(), "Fn::If" | "Fn::Join" | "Fn::Select"));
            let inner = map.values().fold(Unseen::None, |unseen, item| {
                unseen.or(sub_template(item, variables, out))
            });
            if known { inner } else { Unseen::Some }
        }
        _ => Unseen::None,
    }
}

/// Each resource's dependencies, by logical id.
type Dependencies<'a> = BTreeMap<&'a str, BTreeSet<&'a str>>;

/// Each resource's dependencies (`DependsOn` and references in its Properties and Metadata),
/// by logical id.
pub(crate) type DependencyMap = BTreeMap<String, BTreeSet<String>>;

/// Orders resources so that each comes after everything it depends on. Ties are broken by name;
/// deletion is the reverse. `parameters` are the template's parameter names (references to them
/// are not dependencies).
#[cfg(test)]
pub(crate) fn creation_order(
    resources: &BTreeMap<String, ResourceSpec>,
    parameters: &BTreeSet<String>,
) -> Result<Vec<String>, GraphError> {
    dependency_order(resources, parameters).map(|(order, _)| order)
}

/// A creation order (as [`creation_order`] gives it) and each resource's dependencies.
pub(crate) fn dependency_order(
    resources: &BTreeMap<String, ResourceSpec>,
    parameters: &BTreeSet<String>,
) -> Result<(Vec<String>, DependencyMap), GraphError> {
    let mut dependencies = Dependencies::new();
    for (id, spec) in resources {
        dependencies.insert(
            id.as_str(),
            dependencies_of(id, spec, resources, parameters)?,
        );
    }
    let order = topological_order(&dependencies);
    if order.len() == resources.len() {
        let owned = dependencies
            .iter()
            .map(|(id, deps)| {
                (
                    (*id).to_owned(),
                    deps.iter().map(|d| (*d).to_owned()).collect(),
                )
            })
            .collect();
        return Ok((order, owned));
    }
    let done: BTreeSet<&str> = order.iter().map(String::as_str).collect();
    Err(GraphError::Cycle {
        resources: find_cycle(&dependencies, &done),
    })
}

/// The resources `spec` (logical id `id`) depends on; names that are neither a resource nor a
/// parameter are errors.
fn dependencies_of<'a>(
    id: &str,
    spec: &ResourceSpec,
    resources: &'a BTreeMap<String, ResourceSpec>,
    parameters: &BTreeSet<String>,
) -> Result<BTreeSet<&'a str>, GraphError> {
    let mut deps = BTreeSet::new();
    for name in &spec.depends_on {
        let Some((known, _)) = resources.get_key_value(name) else {
            return Err(GraphError::UnknownDependsOn {
                resource: id.to_owned(),
                name: name.clone(),
            });
        };
        deps.insert(known.as_str());
    }
    let mut referenced = references(&spec.properties);
    referenced.extend(references(&spec.metadata));
    for name in referenced {
        if let Some((known, _)) = resources.get_key_value(&name) {
            deps.insert(known.as_str());
        } else if !parameters.contains(&name) {
            return Err(GraphError::UnknownReference {
                resource: id.to_owned(),
                name,
            });
        }
    }
    Ok(deps)
}

/// Kahn's algorithm, taking the ready resource first in name order; resources in or behind a
/// cycle are left out.
fn topological_order(dependencies: &Dependencies<'_>) -> Vec<String> {
    let mut dependents: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let mut waiting: BTreeMap<&str, usize> = BTreeMap::new();
    for (id, deps) in dependencies {
        waiting.insert(id, deps.len());
        for dep in deps {
            dependents.entry(dep).or_default().push(id);
        }
    }
    let mut ready: BTreeSet<&str> = waiting
        .iter()
        .filter(|(_, n)| **n == 0)
        .map(|(id, _)| *id)
        .collect();
    let mut order = Vec::with_capacity(dependencies.len());
    while let Some(id) = ready.pop_first() {
        order.push(id.to_owned());
        for dependent in dependents.get(id).into_iter().flatten() {
            if let Some(n) = waiting.get_mut(dependent) {
                *n -= 1;
                if *n == 0 {
                    ready.insert(dependent);
                }
            }
        }
    }
    order
}

/// A cycle among the resources not `done`: every one of them waits on another one, so walking
/// dependencies must loop. The first resource of the cycle is repeated at the end.
fn find_cycle(dependencies: &Dependencies<'_>, done: &BTreeSet<&str>) -> Vec<String> {
    let remaining = |id: &&str| !done.contains(id);
    let mut walk: Vec<&str> = Vec::new();
    let mut current = dependencies.keys().copied().find(remaining);
    while let Some(id) = current {
        if let Some(pos) = walk.iter().position(|seen| *seen == id) {
            let mut cycle: Vec<String> = walk[pos..].iter().map(|s| (*s).to_owned()).collect();
            cycle.push(id.to_owned());
            return cycle;
        }
        walk.push(id);
        current = dependencies
            .get(id)
            .and_then(|deps| deps.iter().copied().find(remaining));
    }
    walk.iter().map(|s| (*s).to_owned()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::template::{Template, parse_document};

    #[test]
    fn references_are_found() {
        let cases: &[(&str, &[&str])] = &[
            ("{A: !Ref Queue, B: !Ref AWS::Region}", &["Queue"]),
            ("!GetAtt Db.Endpoint.Address", &["Db"]),
            ("!GetAtt [Db, !Ref AttrParam]", &["AttrParam", "Db"]),
            ("{'Fn::GetAtt': 'Topic.Arn'}", &["Topic"]),
            (
                "!Sub '${Queue}/${Db.Arn}/${AWS::Region}/${!Literal}/${ Spaced }'",
                &["Db", "Queue", "Spaced"],
            ),
            (
                "!Sub ['${Local}-${Queue}', {Local: !Ref Bucket}]",
                &["Bucket", "Queue"],
            ),
            ("!If [Cond, !Ref A, !GetAtt B.Arn]", &["A", "B"]),
            ("!Join ['', [!Ref A, !Select [0, !GetAZs '']]]", &["A"]),
            ("{Ref: X, Other: 1}", &[]),
            ("[plain, 1, true, {Condition: C}]", &[]),
        ];
        for (yaml, expected) in cases {
            let value = parse_document(yaml).expect("yaml");
            let got = references(&value);
            let expected: BTreeSet<String> = expected.iter().map(|s| s.to_string()).collect();
            assert_eq!(got, expected, "{yaml}");
        }
    }

    #[test]
    fn attributes_read_are_found_by_resource() {
        let yaml = "{A: !GetAtt Vpc.DefaultSecurityGroup, B: !Sub '${Db.Endpoint.Address}:${Vpc}/${Local.X}', \
                    C: !Sub ['${Local.X}', {Local.X: !GetAtt Topic.Arn}], D: !GetAtt [Fn, !Ref Attr], \
                    E: [!GetAtt [Queue, Arn]]}";
        let value = parse_document(yaml).expect("yaml");
        let got = attributes_read(&value);
        let named =
            |names: &[&str]| AttributeReads::Named(names.iter().map(|s| (*s).to_owned()).collect());
        assert_eq!(got["Vpc"], named(&["DefaultSecurityGroup"]));
        assert_eq!(got["Db"], named(&["Endpoint.Address"]));
        assert_eq!(
            got["Local"],
            named(&["X"]),
            "a name outside the variable map is read"
        );
        assert_eq!(got["Topic"], named(&["Arn"]));
        assert_eq!(got["Queue"], named(&["Arn"]));
        assert_eq!(got["Fn"], AttributeReads::Any);
        assert!(got["Fn"].reads("Arn"));
        assert!(!got["Vpc"].reads("DefaultNetworkAcl"));
        assert_eq!(got.len(), 6, "{got:?}");
    }

    #[test]
    fn a_computed_sub_template_is_read_through_its_literals() {
        let yaml = "{Resources: {Vpc: {}, Topic: {}}, Outputs: {A: {Value: !Sub [!If [C, '${Vpc.DefaultNetworkAcl}', '${Topic.Arn}'], {}]}}}";
        let got = attributes_read(&parse_document(yaml).expect("yaml"));
        assert!(got["Vpc"].reads("DefaultNetworkAcl"), "{got:?}");
        assert!(got["Topic"].reads("Arn"), "{got:?}");
        assert!(!got["Vpc"].reads("CidrBlock"), "{got:?}");

        let yaml = "{Resources: {Vpc: {}, Topic: {}}, Outputs: {A: {Value: !Sub [!Join ['', [!Ref Prefix, '-x']], {}]}}}";
        let got = attributes_read(&parse_document(yaml).expect("yaml"));
        assert_eq!(
            got["Vpc"],
            AttributeReads::Any,
            "a template known only at deploy time"
        );
        assert_eq!(got["Topic"], AttributeReads::Any);
    }

    /// Orders the resources of a template given as YAML `Resources` body.
    fn order(resources_yaml: &str) -> Result<Vec<String>, GraphError> {
        let text = format!("Parameters:\n  Env: {{Type: String}}\nResources:\n{resources_yaml}");
        let template = Template::parse(&text).expect("template");
        let parameters = template.parameters.keys().cloned().collect();
        creation_order(&template.resources, &parameters)
    }

    #[test]
    fn creation_order_respects_dependencies() {
        let cases: &[(&str, &[&str])] = &[
            (
                "  B: {Type: T}\n  A: {Type: T}\n  C: {Type: T}\n",
                &["A", "B", "C"],
            ),
            (
                "  A: {Type: T, DependsOn: B}\n  B: {Type: T}\n",
                &["B", "A"],
            ),
            (
                "  A: {Type: T, DependsOn: [C, B]}\n  B: {Type: T}\n  C: {Type: T}\n",
                &["B", "C", "A"],
            ),
            (
                "  Fn: {Type: T, Properties: {Role: !GetAtt Role.Arn, Q: !Sub '${Queue}-${Env}-${AWS::Region}'}}\n  Role: {Type: T}\n  Queue: {Type: T, Properties: {Name: !Ref Env}}\n",
                &["Queue", "Role", "Fn"],
            ),
            (
                "  Map: {Type: T, Properties: {Fn: !Ref Fn, Q: !GetAtt Queue.Arn}}\n  Fn: {Type: T, Properties: {Role: !GetAtt Role.Arn}}\n  Role: {Type: T}\n  Queue: {Type: T}\n",
                &["Queue", "Role", "Fn", "Map"],
            ),
            (
                "  A: {Type: T, Metadata: {x: !Ref B}}\n  B: {Type: T}\n",
                &["B", "A"],
            ),
            (
                "  A: {Type: T, Properties: {x: !If [C, !Ref B, !Ref AWS::NoValue]}}\n  B: {Type: T}\n",
                &["B", "A"],
            ),
        ];
        for (yaml, expected) in cases {
            let got = order(yaml).unwrap_or_else(|e| panic!("{yaml}: {e}"));
            assert_eq!(got, expected.to_vec(), "{yaml}");
        }
    }

    #[test]
    fn creation_order_errors() {
        let cases: &[(&str, &[&str])] = &[
            (
                "  A: {Type: T, Properties: {x: !Ref Nope}}\n",
                &["Resources.A", "`Nope`"],
            ),
            (
                "  A: {Type: T, Properties: {x: !Sub '${Nope.Arn}'}}\n",
                &["Resources.A", "`Nope`"],
            ),
            (
                "  A: {Type: T, DependsOn: Nope}\n",
                &["Resources.A.DependsOn", "`Nope`"],
            ),
            (
                "  A: {Type: T, Properties: {x: !Ref B}}\n  B: {Type: T, Properties: {x: !GetAtt A.Arn}}\n  C: {Type: T}\n",
                &["cycle: A -> B -> A"],
            ),
            (
                "  A: {Type: T, DependsOn: B}\n  B: {Type: T, DependsOn: C}\n  C: {Type: T, DependsOn: B}\n",
                &["cycle: B -> C -> B"],
            ),
            ("  A: {Type: T, DependsOn: A}\n", &["cycle: A -> A"]),
        ];
        for (yaml, needles) in cases {
            let err = order(yaml).expect_err(yaml).to_string();
            for needle in *needles {
                assert!(err.contains(needle), "{yaml}: `{err}` lacks `{needle}`");
            }
        }
    }
}
