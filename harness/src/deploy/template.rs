//! Template documents: YAML/JSON parsing with CloudFormation short-form tags, and the typed view
//! of a template's sections ([`Template`]).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value};

/// Everything that makes a template document unusable, each naming what to fix.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// The text is not valid YAML or JSON; the message carries serde_yaml's line and column.
    #[error("template is not valid YAML/JSON: {0}")]
    Syntax(String),
    /// A `!Tag` that is not a CloudFormation short-form function.
    #[error(
        "unknown YAML tag `{tag}` at {path} (CloudFormation knows !Ref, !GetAtt, !Sub, !Join, ...)"
    )]
    UnknownTag {
        /// The tag as written, with its `!`.
        tag: String,
        /// Where it occurs in the document.
        path: String,
    },
    /// A short-form tag applied to a value of the wrong shape.
    #[error("{path}: {message}")]
    InvalidTag {
        /// Where it occurs in the document.
        path: String,
        /// What is wrong with it.
        message: String,
    },
    /// A mapping key that cannot be turned into a string (a list, a mapping or a tagged value).
    #[error("{path}: mapping keys must be scalars, found {found}")]
    InvalidKey {
        /// The mapping holding the key.
        path: String,
        /// What kind of key was found.
        found: &'static str,
    },
    /// The document is not a mapping at the top level.
    #[error(
        "the template must be a mapping of sections (AWSTemplateFormatVersion, Resources, ...), found {found}"
    )]
    NotAnObject {
        /// What kind of value was found.
        found: &'static str,
    },
    /// A top-level key CloudFormation does not know.
    #[error(
        "unknown top-level template section `{section}` (allowed: AWSTemplateFormatVersion, Description, Metadata, Parameters, Rules, Mappings, Conditions, Transform, Resources, Outputs, Globals)"
    )]
    UnknownSection {
        /// The section name.
        section: String,
    },
    /// `Resources` is absent or empty.
    #[error("the template has no resources: `Resources` must declare at least one resource")]
    NoResources,
    /// A value has the wrong JSON type.
    #[error("{path} must be {expected}, found {found}")]
    WrongType {
        /// Where the value is, e.g. `Resources.MyQueue.Properties`.
        path: String,
        /// What it has to be.
        expected: &'static str,
        /// What it is.
        found: &'static str,
    },
    /// A required field is absent.
    #[error("{path} is required")]
    Missing {
        /// The missing field, e.g. `Resources.MyQueue.Type`.
        path: String,
    },
    /// A logical id that is not alphanumeric.
    #[error("{section}.{name}: logical ids must be alphanumeric (A-Za-z0-9)")]
    InvalidLogicalId {
        /// `Resources`, `Parameters`, ...
        section: &'static str,
        /// The offending id.
        name: String,
    },
    /// A parameter declaration that does not deserialize.
    #[error("Parameters.{name}: {message}")]
    InvalidParameter {
        /// The parameter's name.
        name: String,
        /// serde's description of the problem.
        message: String,
    },
}

/// Intrinsic functions that have a `!Name` short form mapping to `{"Fn::Name": value}`.
const FN_TAGS: &[&str] = &[
    "Sub",
    "Join",
    "Split",
    "Select",
    "If",
    "Equals",
    "And",
    "Or",
    "Not",
    "FindInMap",
    "GetAZs",
    "Cidr",
    "ImportValue",
    "Base64",
    "Transform",
];

/// Top-level sections a template may contain.
const SECTIONS: &[&str] = &[
    "AWSTemplateFormatVersion",
    "Description",
    "Metadata",
    "Parameters",
    "Rules",
    "Mappings",
    "Conditions",
    "Transform",
    "Resources",
    "Outputs",
    "Globals",
];

/// Parses a YAML or JSON template into long-form JSON (`!Ref x` becomes `{"Ref": "x"}`, ...).
pub(crate) fn parse_document(text: &str) -> Result<Value, TemplateError> {
    if text.trim_start().starts_with('{')
        && let Ok(value) = serde_json::from_str::<Value>(text)
    {
        return Ok(value);
    }
    let yaml: serde_yaml::Value =
        serde_yaml::from_str(text).map_err(|e| TemplateError::Syntax(syntax_message(text, &e)))?;
    convert(yaml, &mut Vec::new())
}

/// serde_yaml's message, plus a hint for the classic mistake of two short-form tags in a row
/// (`!ImportValue !Sub ...`), which YAML does not allow.
fn syntax_message(text: &str, error: &serde_yaml::Error) -> String {
    let message = error.to_string();
    let double_tag = regex::Regex::new(r"![A-Za-z0-9]+[ \t]+![A-Za-z0-9]+")
        .ok()
        .and_then(|re| {
            text.lines()
                .enumerate()
                .find_map(|(i, line)| re.find(line).map(|m| (i + 1, m.as_str().to_owned())))
        });
    match double_tag {
        Some((line, found)) => format!(
            "{message} (line {line}: `{found}`: YAML allows one tag per value; write the outer \
             function in long form, e.g. `Fn::ImportValue: !Sub ...`)"
        ),
        None => message,
    }
}

/// Renders a document path such as `Resources.MyQueue.Properties`.
fn render_path(path: &[String]) -> String {
    if path.is_empty() {
        return "the document root".to_owned();
    }
    let mut out = String::new();
    for segment in path {
        if !out.is_empty() && !segment.starts_with('[') {
            out.push('.');
        }
        out.push_str(segment);
    }
    out
}

/// Converts a YAML value to JSON, expanding short-form tags.
fn convert(value: serde_yaml::Value, path: &mut Vec<String>) -> Result<Value, TemplateError> {
    use serde_yaml::Value as Y;
    Ok(match value {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => yaml_number(&n),
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.into_iter().enumerate() {
                path.push(format!("[{i}]"));
                out.push(convert(item, path)?);
                path.pop();
            }
            Value::Array(out)
        }
        Y::Mapping(mapping) => {
            let mut out = Map::new();
            for (key, item) in mapping {
                let key = yaml_key(key, path)?;
                path.push(key.clone());
                let item = convert(item, path)?;
                path.pop();
                out.insert(key, item);
            }
            Value::Object(out)
        }
        Y::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let name = tag.strip_prefix('!').unwrap_or(&tag).to_owned();
            path.push(tag.clone());
            let inner = convert(tagged.value, path)?;
            path.pop();
            expand_tag(&name, &tag, inner, path)?
        }
    })
}

/// Builds the long form of one short-form tag whose value is already converted.
fn expand_tag(
    name: &str,
    tag: &str,
    inner: Value,
    path: &[String],
) -> Result<Value, TemplateError> {
    let single = |key: &str, value: Value| {
        let mut map = Map::new();
        map.insert(key.to_owned(), value);
        Value::Object(map)
    };
    match name {
        "Ref" => Ok(single("Ref", inner)),
        "Condition" => Ok(single("Condition", inner)),
        "GetAtt" => match inner {
            Value::String(s) => match s.split_once('.') {
                Some((resource, attribute)) if !resource.is_empty() && !attribute.is_empty() => {
                    Ok(single(
                        "Fn::GetAtt",
                        Value::Array(vec![resource.into(), attribute.into()]),
                    ))
                }
                _ => Err(TemplateError::InvalidTag {
                    path: render_path(path),
                    message: format!(
                        "!GetAtt `{s}` must have the form LogicalId.Attribute (e.g. MyQueue.Arn)"
                    ),
                }),
            },
            other => Ok(single("Fn::GetAtt", other)),
        },
        _ if FN_TAGS.contains(&name) => Ok(single(&format!("Fn::{name}"), inner)),
        // YAML core-schema tags a user may write explicitly.
        "tag:yaml.org,2002:str" | "!str" => Ok(match inner {
            Value::String(s) => Value::String(s),
            Value::Null => Value::String(String::new()),
            Value::Number(n) => Value::String(n.to_string()),
            Value::Bool(b) => Value::String(b.to_string()),
            other => other,
        }),
        _ => Err(TemplateError::UnknownTag {
            tag: tag.to_owned(),
            path: render_path(path),
        }),
    }
}

/// Converts a YAML number; non-finite floats (`.inf`, `.nan`) become strings.
fn yaml_number(n: &serde_yaml::Number) -> Value {
    if let Some(i) = n.as_i64() {
        Value::from(i)
    } else if let Some(u) = n.as_u64() {
        Value::from(u)
    } else {
        n.as_f64()
            .and_then(serde_json::Number::from_f64)
            .map_or_else(|| Value::String(n.to_string()), Value::Number)
    }
}

/// Turns a scalar mapping key into the string CloudFormation sees (`80:` is `"80"`).
fn yaml_key(key: serde_yaml::Value, path: &[String]) -> Result<String, TemplateError> {
    use serde_yaml::Value as Y;
    match key {
        Y::String(s) => Ok(s),
        Y::Number(n) => Ok(n.to_string()),
        Y::Bool(b) => Ok(b.to_string()),
        Y::Null => Ok("null".to_owned()),
        Y::Sequence(_) => Err(TemplateError::InvalidKey {
            path: render_path(path),
            found: "a list",
        }),
        Y::Mapping(_) => Err(TemplateError::InvalidKey {
            path: render_path(path),
            found: "a mapping",
        }),
        Y::Tagged(_) => Err(TemplateError::InvalidKey {
            path: render_path(path),
            found: "a tagged value",
        }),
    }
}

/// The JSON type name of a value, for error messages.
pub(crate) fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// A declared template parameter (`Parameters.<Name>`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct ParameterSpec {
    /// `Type`: `String`, `Number`, `CommaDelimitedList`, `AWS::SSM::Parameter::Value<String>`, ...
    #[serde(rename = "Type")]
    pub(crate) param_type: String,
    /// `Default`, as written (stringified when resolved).
    #[serde(default)]
    pub(crate) default: Option<Value>,
    /// `AllowedValues`.
    #[serde(default)]
    pub(crate) allowed_values: Vec<Value>,
    /// `AllowedPattern` (a whole-value regular expression).
    #[serde(default)]
    pub(crate) allowed_pattern: Option<String>,
    /// `MinLength`.
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    pub(crate) min_length: Option<u64>,
    /// `MaxLength`.
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    pub(crate) max_length: Option<u64>,
    /// `MinValue`.
    #[serde(default, deserialize_with = "lenient::opt_f64")]
    pub(crate) min_value: Option<f64>,
    /// `MaxValue`.
    #[serde(default, deserialize_with = "lenient::opt_f64")]
    pub(crate) max_value: Option<f64>,
    /// `Description`.
    #[serde(default)]
    pub(crate) description: Option<String>,
    /// `ConstraintDescription`, shown when a constraint is violated.
    #[serde(default)]
    pub(crate) constraint_description: Option<String>,
    /// `NoEcho`.
    #[serde(default, deserialize_with = "lenient::bool")]
    pub(crate) no_echo: bool,
}

/// Deserializers accepting CloudFormation's habit of writing numbers and booleans as strings.
mod lenient {
    use serde::{Deserialize, Deserializer, de::Error};
    use serde_json::Value;

    /// A non-negative integer, or a string holding one.
    pub(super) fn opt_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        match Value::deserialize(d)? {
            Value::Null => Ok(None),
            Value::Number(n) => n.as_u64().map(Some).ok_or_else(|| {
                Error::custom(format!("expected a non-negative integer, found {n}"))
            }),
            Value::String(s) => s.trim().parse().map(Some).map_err(|_| {
                Error::custom(format!("expected a non-negative integer, found `{s}`"))
            }),
            other => Err(Error::custom(format!(
                "expected a non-negative integer, found {}",
                super::type_name(&other)
            ))),
        }
    }

    /// A number, or a string holding one.
    pub(super) fn opt_f64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        match Value::deserialize(d)? {
            Value::Null => Ok(None),
            Value::Number(n) => n
                .as_f64()
                .map(Some)
                .ok_or_else(|| Error::custom(format!("expected a number, found {n}"))),
            Value::String(s) => match s.trim().parse::<f64>() {
                Ok(f) if f.is_finite() => Ok(Some(f)),
                _ => Err(Error::custom(format!("expected a number, found `{s}`"))),
            },
            other => Err(Error::custom(format!(
                "expected a number, found {}",
                super::type_name(&other)
            ))),
        }
    }

    /// A boolean, or the string `true`/`false`.
    pub(super) fn bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
        match Value::deserialize(d)? {
            Value::Null => Ok(false),
            Value::Bool(b) => Ok(b),
            Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(true),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(false),
            other => Err(Error::custom(format!(
                "expected true or false, found {other}"
            ))),
        }
    }
}

/// A declared resource (`Resources.<LogicalId>`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ResourceSpec {
    /// `Type`, e.g. `AWS::SQS::Queue`.
    pub(crate) resource_type: String,
    /// `Properties` (unevaluated); `{}` when absent.
    pub(crate) properties: Value,
    /// `DependsOn`, a single name or a list.
    pub(crate) depends_on: Vec<String>,
    /// `Condition`: the name of the condition deciding whether the resource is created.
    pub(crate) condition: Option<String>,
    /// `DeletionPolicy` (`Delete`, `Retain`, `Snapshot`, ...).
    pub(crate) deletion_policy: Option<String>,
    /// `Metadata` (unevaluated); `Null` when absent.
    pub(crate) metadata: Value,
}

/// A declared output (`Outputs.<Name>`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct OutputSpec {
    /// `Value` (unevaluated).
    pub(crate) value: Value,
    /// `Description`.
    pub(crate) description: Option<String>,
    /// `Export.Name` (unevaluated).
    pub(crate) export_name: Option<Value>,
    /// `Condition`: the output exists only when this condition holds.
    pub(crate) condition: Option<String>,
}

/// A parsed and validated template.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Template {
    /// The `Transform` section (e.g. `AWS::Serverless-2016-10-31`).
    pub(crate) transform: Vec<String>,
    /// The `Parameters` section.
    pub(crate) parameters: BTreeMap<String, ParameterSpec>,
    /// The `Mappings` section.
    pub(crate) mappings: Map<String, Value>,
    /// The `Conditions` section (unevaluated).
    pub(crate) conditions: Map<String, Value>,
    /// The `Resources` section.
    pub(crate) resources: BTreeMap<String, ResourceSpec>,
    /// The `Outputs` section.
    pub(crate) outputs: BTreeMap<String, OutputSpec>,
    /// The whole document, in long form.
    pub(crate) document: Value,
}

impl Template {
    /// Parses template text (YAML or JSON) and validates its structure.
    #[cfg(test)]
    pub(crate) fn parse(text: &str) -> Result<Self, TemplateError> {
        Self::from_document(parse_document(text)?)
    }

    /// Validates a long-form document and extracts its sections.
    pub(crate) fn from_document(document: Value) -> Result<Self, TemplateError> {
        let Value::Object(top) = &document else {
            return Err(TemplateError::NotAnObject {
                found: type_name(&document),
            });
        };
        if let Some(section) = top.keys().find(|k| !SECTIONS.contains(&k.as_str())) {
            return Err(TemplateError::UnknownSection {
                section: section.clone(),
            });
        }

        let transform = transforms(top)?;
        let parameters = parameter_specs(top)?;
        let mappings = section(top, "Mappings")?.clone();
        for (name, map) in &mappings {
            expect_object(map, &format!("Mappings.{name}"))?;
        }
        let conditions = section(top, "Conditions")?.clone();

        let declared = section(top, "Resources")?;
        if declared.is_empty() {
            return Err(TemplateError::NoResources);
        }
        let mut resources = BTreeMap::new();
        for (id, resource) in declared {
            check_logical_id("Resources", id)?;
            resources.insert(id.clone(), resource_spec(id, resource)?);
        }

        let mut outputs = BTreeMap::new();
        for (name, output) in section(top, "Outputs")? {
            check_logical_id("Outputs", name)?;
            outputs.insert(name.clone(), output_spec(name, output)?);
        }

        Ok(Self {
            transform,
            parameters,
            mappings,
            conditions,
            resources,
            outputs,
            document,
        })
    }

    /// Whether the template needs the SAM transform (`Transform: AWS::Serverless-2016-10-31`).
    pub(crate) fn is_sam(&self) -> bool {
        self.transform
            .iter()
            .any(|t| t.starts_with("AWS::Serverless"))
    }
}

/// The `Transform` section: one macro name, or a list of them.
fn transforms(top: &Map<String, Value>) -> Result<Vec<String>, TemplateError> {
    match top.get("Transform") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, item)| transform_name(item, &format!("Transform[{i}]")))
            .collect(),
        Some(other) => Ok(vec![transform_name(other, "Transform")?]),
    }
}

/// The `Parameters` section's declarations, by name.
fn parameter_specs(
    top: &Map<String, Value>,
) -> Result<BTreeMap<String, ParameterSpec>, TemplateError> {
    let mut parameters = BTreeMap::new();
    for (name, spec) in section(top, "Parameters")? {
        check_logical_id("Parameters", name)?;
        let spec =
            ParameterSpec::deserialize(spec).map_err(|e| TemplateError::InvalidParameter {
                name: name.clone(),
                message: e.to_string(),
            })?;
        parameters.insert(name.clone(), spec);
    }
    Ok(parameters)
}

/// An empty map, returned for absent sections.
static EMPTY: std::sync::LazyLock<Map<String, Value>> = std::sync::LazyLock::new(Map::new);

/// A top-level section that must be a mapping; absent or null is empty.
fn section<'a>(
    top: &'a Map<String, Value>,
    name: &str,
) -> Result<&'a Map<String, Value>, TemplateError> {
    match top.get(name) {
        None | Some(Value::Null) => Ok(&EMPTY),
        Some(Value::Object(map)) => Ok(map),
        Some(other) => Err(TemplateError::WrongType {
            path: name.to_owned(),
            expected: "a mapping",
            found: type_name(other),
        }),
    }
}

/// The value as a mapping, or a [`TemplateError::WrongType`] naming `path`.
fn expect_object<'a>(
    value: &'a Value,
    path: &str,
) -> Result<&'a Map<String, Value>, TemplateError> {
    value.as_object().ok_or_else(|| TemplateError::WrongType {
        path: path.to_owned(),
        expected: "a mapping",
        found: type_name(value),
    })
}

/// An optional string field.
fn opt_string(
    map: &Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<String>, TemplateError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(TemplateError::WrongType {
            path: format!("{path}.{key}"),
            expected: "a string",
            found: type_name(other),
        }),
    }
}

/// CloudFormation logical ids are alphanumeric.
fn check_logical_id(section: &'static str, name: &str) -> Result<(), TemplateError> {
    if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric()) {
        Ok(())
    } else {
        Err(TemplateError::InvalidLogicalId {
            section,
            name: name.to_owned(),
        })
    }
}

/// One `Transform` entry: a macro name, or `{Name: ..., Parameters: ...}`.
fn transform_name(value: &Value, path: &str) -> Result<String, TemplateError> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Object(map) => match map.get("Name") {
            Some(Value::String(s)) => Ok(s.clone()),
            _ => Err(TemplateError::Missing {
                path: format!("{path}.Name"),
            }),
        },
        other => Err(TemplateError::WrongType {
            path: path.to_owned(),
            expected: "a string or a list of strings",
            found: type_name(other),
        }),
    }
}

/// Extracts one resource declaration.
fn resource_spec(id: &str, value: &Value) -> Result<ResourceSpec, TemplateError> {
    let path = format!("Resources.{id}");
    let map = expect_object(value, &path)?;
    let resource_type = match map.get("Type") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        None | Some(Value::Null) => {
            return Err(TemplateError::Missing {
                path: format!("{path}.Type"),
            });
        }
        Some(other) => {
            return Err(TemplateError::WrongType {
                path: format!("{path}.Type"),
                expected: "a resource type string such as AWS::SQS::Queue",
                found: type_name(other),
            });
        }
    };
    let properties = match map.get("Properties") {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(props @ Value::Object(_)) => props.clone(),
        Some(other) => {
            return Err(TemplateError::WrongType {
                path: format!("{path}.Properties"),
                expected: "a mapping",
                found: type_name(other),
            });
        }
    };
    Ok(ResourceSpec {
        resource_type,
        properties,
        depends_on: depends_on(map, &path)?,
        condition: opt_string(map, "Condition", &path)?,
        deletion_policy: opt_string(map, "DeletionPolicy", &path)?,
        metadata: map.get("Metadata").cloned().unwrap_or(Value::Null),
    })
}

/// A resource's `DependsOn`: one logical id, or a list of them.
fn depends_on(map: &Map<String, Value>, path: &str) -> Result<Vec<String>, TemplateError> {
    match map.get("DependsOn") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::String(s) => Ok(s.clone()),
                other => Err(TemplateError::WrongType {
                    path: format!("{path}.DependsOn[{i}]"),
                    expected: "a logical id string",
                    found: type_name(other),
                }),
            })
            .collect(),
        Some(other) => Err(TemplateError::WrongType {
            path: format!("{path}.DependsOn"),
            expected: "a logical id or a list of logical ids",
            found: type_name(other),
        }),
    }
}

/// Extracts one output declaration.
fn output_spec(name: &str, value: &Value) -> Result<OutputSpec, TemplateError> {
    let path = format!("Outputs.{name}");
    let map = expect_object(value, &path)?;
    let value = match map.get("Value") {
        None | Some(Value::Null) => {
            return Err(TemplateError::Missing {
                path: format!("{path}.Value"),
            });
        }
        Some(v) => v.clone(),
    };
    let export_name = match map.get("Export") {
        None | Some(Value::Null) => None,
        Some(export) => {
            let export = expect_object(export, &format!("{path}.Export"))?;
            match export.get("Name") {
                None | Some(Value::Null) => {
                    return Err(TemplateError::Missing {
                        path: format!("{path}.Export.Name"),
                    });
                }
                Some(n) => Some(n.clone()),
            }
        }
    };
    Ok(OutputSpec {
        value,
        description: opt_string(map, "Description", &path)?,
        export_name,
        condition: opt_string(map, "Condition", &path)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Parses each input and compares it with the expected long form.
    fn assert_parses(cases: &[(&str, Value)]) {
        for (input, expected) in cases {
            let parsed = parse_document(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(&parsed, expected, "input: {input}");
        }
    }

    /// Each short tag becomes its long form.
    #[test]
    fn short_tags_become_long_form() {
        assert_parses(&[
            ("!Ref X", json!({"Ref": "X"})),
            ("!Condition IsProd", json!({"Condition": "IsProd"})),
            ("!GetAtt Queue.Arn", json!({"Fn::GetAtt": ["Queue", "Arn"]})),
            (
                "!GetAtt Db.Endpoint.Address",
                json!({"Fn::GetAtt": ["Db", "Endpoint.Address"]}),
            ),
            (
                "!GetAtt [Queue, Arn]",
                json!({"Fn::GetAtt": ["Queue", "Arn"]}),
            ),
            (
                "!Sub 'arn:${AWS::Partition}'",
                json!({"Fn::Sub": "arn:${AWS::Partition}"}),
            ),
            (
                "!Join ['-', [a, b]]",
                json!({"Fn::Join": ["-", ["a", "b"]]}),
            ),
            ("!Split [',', 'a,b']", json!({"Fn::Split": [",", "a,b"]})),
            ("!Select [0, [a]]", json!({"Fn::Select": [0, ["a"]]})),
            ("!If [C, a, b]", json!({"Fn::If": ["C", "a", "b"]})),
            ("!Equals [a, b]", json!({"Fn::Equals": ["a", "b"]})),
            (
                "!And [!Condition A, !Condition B]",
                json!({"Fn::And": [{"Condition": "A"}, {"Condition": "B"}]}),
            ),
            (
                "!Or [!Condition A, !Condition B]",
                json!({"Fn::Or": [{"Condition": "A"}, {"Condition": "B"}]}),
            ),
            (
                "!Not [!Condition A]",
                json!({"Fn::Not": [{"Condition": "A"}]}),
            ),
            (
                "!FindInMap [M, a, b]",
                json!({"Fn::FindInMap": ["M", "a", "b"]}),
            ),
            ("!GetAZs ''", json!({"Fn::GetAZs": ""})),
            (
                "!Cidr ['10.0.0.0/16', 4, 8]",
                json!({"Fn::Cidr": ["10.0.0.0/16", 4, 8]}),
            ),
            ("!ImportValue Shared", json!({"Fn::ImportValue": "Shared"})),
            ("!Base64 hi", json!({"Fn::Base64": "hi"})),
            (
                "!Transform {Name: 'AWS::Include', Parameters: {Location: x}}",
                json!({"Fn::Transform": {"Name": "AWS::Include", "Parameters": {"Location": "x"}}}),
            ),
        ]);
    }

    /// Tags nested in tags, YAML scalars as keys and values, and tags without a value.
    #[test]
    fn nested_tags_and_scalars_parse() {
        assert_parses(&[
            (
                "!Join ['', [!Ref A, !GetAtt B.Arn]]",
                json!({"Fn::Join": ["", [{"Ref": "A"}, {"Fn::GetAtt": ["B", "Arn"]}]]}),
            ),
            (
                "!Sub ['${X}', {X: {'Fn::ImportValue': !Sub '${AWS::StackName}-x'}}]",
                json!({"Fn::Sub": ["${X}", {"X": {"Fn::ImportValue": {"Fn::Sub": "${AWS::StackName}-x"}}}]}),
            ),
            (
                "{80: a, true: b, 1.5: c}",
                json!({"80": "a", "true": "b", "1.5": "c"}),
            ),
            (
                "[1, -2, 2.5, true, null, '3']",
                json!([1, -2, 2.5, true, null, "3"]),
            ),
            ("{\"Ref\": \"X\"}", json!({"Ref": "X"})),
            ("!!str 123", json!("123")),
            ("a: !GetAZs", json!({"a": {"Fn::GetAZs": null}})),
            ("a: !Ref\n", json!({"a": {"Ref": null}})),
        ]);
    }

    #[test]
    fn parse_errors_name_the_problem() {
        let cases: &[(&str, &str)] = &[
            ("a: !Bogus x", "!Bogus"),
            ("a: !GetAtt NoDot", "LogicalId.Attribute"),
            ("a: [unclosed", "line 1"),
            ("? [a, b]\n: c", "mapping keys must be scalars"),
            (
                "a: !ImportValue !Sub '${X}-y'",
                "line 1: `!ImportValue !Sub`",
            ),
            ("a: 1\nb: !Base64 !Sub x", "line 2: `!Base64 !Sub`"),
        ];
        for (input, needle) in cases {
            let err = parse_document(input).expect_err(input).to_string();
            assert!(err.contains(needle), "{input}: `{err}` lacks `{needle}`");
        }
    }

    /// A template using every section, for the extraction tests.
    const EVERY_SECTION: &str = r#"
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Parameters:
  Env:
    Type: String
    Default: dev
    AllowedValues: [dev, prod]
    MinLength: "1"
    NoEcho: "true"
Mappings:
  M: {a: {b: c}}
Conditions:
  IsProd: !Equals [!Ref Env, prod]
Resources:
  Queue:
    Type: AWS::SQS::Queue
    DependsOn: Other
    Condition: IsProd
    DeletionPolicy: Retain
  Other:
    Type: AWS::SNS::Topic
    DependsOn: [Queue]
    Properties: {TopicName: t}
    Metadata: {k: v}
Outputs:
  Arn:
    Value: !GetAtt Queue.Arn
    Description: the arn
    Export: {Name: !Sub '${AWS::StackName}-arn'}
"#;

    /// Transform, Parameters, Mappings and Conditions are extracted.
    #[test]
    fn header_sections_are_extracted() {
        let t = Template::parse(EVERY_SECTION).expect("parses");
        assert!(t.is_sam());
        assert_eq!(t.transform, vec!["AWS::Serverless-2016-10-31".to_owned()]);
        let env = &t.parameters["Env"];
        assert_eq!(env.param_type, "String");
        assert_eq!(env.default, Some(json!("dev")));
        assert_eq!(env.allowed_values, vec![json!("dev"), json!("prod")]);
        assert_eq!(env.min_length, Some(1));
        assert!(env.no_echo);
        assert_eq!(t.mappings["M"], json!({"a": {"b": "c"}}));
        assert_eq!(
            t.conditions["IsProd"],
            json!({"Fn::Equals": [{"Ref": "Env"}, "prod"]})
        );
    }

    /// Each resource's type, properties, dependencies, condition, policy and metadata.
    #[test]
    fn resources_are_extracted() {
        let t = Template::parse(EVERY_SECTION).expect("parses");
        let q = &t.resources["Queue"];
        assert_eq!(q.resource_type, "AWS::SQS::Queue");
        assert_eq!(q.properties, json!({}));
        assert_eq!(q.depends_on, vec!["Other".to_owned()]);
        assert_eq!(q.condition.as_deref(), Some("IsProd"));
        assert_eq!(q.deletion_policy.as_deref(), Some("Retain"));
        assert_eq!(q.metadata, Value::Null);
        let o = &t.resources["Other"];
        assert_eq!(o.depends_on, vec!["Queue".to_owned()]);
        assert_eq!(o.properties, json!({"TopicName": "t"}));
        assert_eq!(o.metadata, json!({"k": "v"}));
    }

    /// Outputs are extracted, and the document is kept as written.
    #[test]
    fn outputs_are_extracted_and_the_document_kept() {
        let t = Template::parse(EVERY_SECTION).expect("parses");
        let out = &t.outputs["Arn"];
        assert_eq!(out.value, json!({"Fn::GetAtt": ["Queue", "Arn"]}));
        assert_eq!(out.description.as_deref(), Some("the arn"));
        assert_eq!(
            out.export_name,
            Some(json!({"Fn::Sub": "${AWS::StackName}-arn"}))
        );
        assert_eq!(
            t.document["Resources"]["Other"]["Properties"]["TopicName"],
            "t"
        );
    }

    #[test]
    fn transform_forms() {
        let cases: &[(&str, &[&str], bool)] = &[
            ("", &[], false),
            (
                "Transform: [AWS::LanguageExtensions, AWS::Serverless-2016-10-31]\n",
                &["AWS::LanguageExtensions", "AWS::Serverless-2016-10-31"],
                true,
            ),
            (
                "Transform: {Name: AWS::Include, Parameters: {Location: s3://b/k}}\n",
                &["AWS::Include"],
                false,
            ),
        ];
        for (prefix, expected, sam) in cases {
            let text = format!("{prefix}Resources: {{Q: {{Type: AWS::SQS::Queue}}}}");
            let t = Template::parse(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(
                t.transform,
                expected.iter().map(|s| s.to_string()).collect::<Vec<_>>()
            );
            assert_eq!(t.is_sam(), *sam, "{text}");
        }
    }

    #[test]
    fn invalid_templates_are_rejected() {
        let cases: &[(&str, &str)] = &[
            ("[1]", "must be a mapping"),
            ("Description: x", "no resources"),
            ("Resources: {}", "no resources"),
            (
                "Resources: {Q: {Type: AWS::SQS::Queue}}\nOutput: {}",
                "`Output`",
            ),
            ("Resources: {Q: {Properties: {}}}", "Resources.Q.Type"),
            ("Resources: {Q: {Type: 3}}", "Resources.Q.Type"),
            (
                "Resources: {Q: {Type: T, Properties: [1]}}",
                "Resources.Q.Properties",
            ),
            (
                "Resources: {Q: {Type: T, DependsOn: [1]}}",
                "Resources.Q.DependsOn[0]",
            ),
            ("Resources: {My-Queue: {Type: T}}", "Resources.My-Queue"),
            (
                "Resources: {Q: {Type: T}}\nOutputs: {O: {Description: d}}",
                "Outputs.O.Value",
            ),
            (
                "Resources: {Q: {Type: T}}\nOutputs: {O: {Value: v, Export: {}}}",
                "Outputs.O.Export.Name",
            ),
            (
                "Resources: {Q: {Type: T}}\nParameters: {P: {Default: x}}",
                "Parameters.P",
            ),
            (
                "Resources: {Q: {Type: T}}\nParameters: {P: {Type: String, Bogus: 1}}",
                "Bogus",
            ),
            (
                "Resources: {Q: {Type: T}}\nParameters: {P: {Type: String, MinLength: abc}}",
                "Parameters.P",
            ),
            ("Resources: {Q: {Type: T}}\nMappings: {M: 1}", "Mappings.M"),
        ];
        for (input, needle) in cases {
            let err = Template::parse(input).expect_err(input).to_string();
            assert!(err.contains(needle), "{input}: `{err}` lacks `{needle}`");
        }
    }
}
