//! Template parameters: picks each parameter's value (given, or `Default`), resolves SSM
//! parameter types, converts list types and checks the declared constraints.

use std::collections::BTreeMap;

use regex::Regex;
use serde_json::Value;

use super::template::ParameterSpec;

/// A parameter value that cannot be used, naming the parameter and what to change.
#[derive(Debug, thiserror::Error)]
pub enum ParameterError {
    /// A value was given for a parameter the template does not declare.
    #[error(
        "a value was given for parameter `{name}`, but the template declares no such parameter"
    )]
    Unknown {
        /// The given name.
        name: String,
    },
    /// Neither a given value nor a `Default`.
    #[error("parameter `{name}` has no Default: give it a value")]
    MissingValue {
        /// The parameter's name.
        name: String,
    },
    /// A `Type` this engine does not know.
    #[error("Parameters.{name}.Type `{param_type}` is not a supported parameter type")]
    UnsupportedType {
        /// The parameter's name.
        name: String,
        /// Its declared type.
        param_type: String,
    },
    /// A `Default` that cannot be turned into a string.
    #[error(
        "Parameters.{name}.Default must be a string, number, boolean or list of those, found {found}"
    )]
    InvalidDefault {
        /// The parameter's name.
        name: String,
        /// What was found.
        found: &'static str,
    },
    /// A `Number` (or `List<Number>` element) that does not parse.
    #[error("parameter `{name}` is of type {param_type}, but `{value}` is not a number")]
    NotANumber {
        /// The parameter's name.
        name: String,
        /// Its declared type.
        param_type: String,
        /// The offending value.
        value: String,
    },
    /// A value that violates `AllowedValues`, `AllowedPattern`, `Min/MaxLength` or `Min/MaxValue`.
    #[error("parameter `{name}` value `{value}` violates {constraint}{hint}")]
    Constraint {
        /// The parameter's name.
        name: String,
        /// The offending value (masked when the parameter is `NoEcho`).
        value: String,
        /// The constraint, e.g. `AllowedValues [dev, prod]`.
        constraint: String,
        /// `: <ConstraintDescription>` when the template has one, else empty.
        hint: String,
    },
    /// An `AllowedPattern` that is not a valid regular expression.
    #[error(
        "Parameters.{name}.AllowedPattern `{pattern}` is not a valid regular expression: {message}"
    )]
    InvalidPattern {
        /// The parameter's name.
        name: String,
        /// The pattern as written.
        pattern: String,
        /// The regex compiler's message.
        message: String,
    },
    /// An SSM parameter type whose SSM parameter does not exist.
    #[error(
        "parameter `{name}` refers to SSM parameter `{ssm_name}`, which does not exist: create it or give another name"
    )]
    SsmMissing {
        /// The template parameter's name.
        name: String,
        /// The SSM parameter's name.
        ssm_name: String,
    },
    /// An EC2 id parameter (`AWS::EC2::VPC::Id`, `List<AWS::EC2::Subnet::Id>`, ...) names an
    /// id EC2 does not know.
    #[error(
        "parameter `{name}` ({kind}) names {id}, which does not exist in this account and region: give the id of an existing one"
    )]
    Ec2Missing {
        /// The parameter.
        name: String,
        /// Its (element) type.
        kind: String,
        /// The id that does not exist.
        id: String,
    },
    /// EC2 could not be asked whether an EC2 id parameter's id exists.
    #[error("parameter `{name}` names {id}, which EC2 could not be asked about: {reason}")]
    Ec2Lookup {
        /// The parameter.
        name: String,
        /// The id.
        id: String,
        /// The EC2 call's error.
        reason: String,
    },
    /// The emulator's SSM could not be asked for an SSM parameter type's value.
    #[error(
        "parameter `{name}` refers to SSM parameter `{ssm_name}`, which could not be read: {reason}"
    )]
    SsmLookup {
        /// The template parameter's name.
        name: String,
        /// The SSM parameter's name.
        ssm_name: String,
        /// The SSM call's error.
        reason: String,
    },
}

/// AWS-specific parameter types; their values are plain strings.
const AWS_TYPES: &[&str] = &[
    "AWS::EC2::AvailabilityZone::Name",
    "AWS::EC2::Image::Id",
    "AWS::EC2::Instance::Id",
    "AWS::EC2::KeyPair::KeyName",
    "AWS::EC2::SecurityGroup::GroupName",
    "AWS::EC2::SecurityGroup::Id",
    "AWS::EC2::Subnet::Id",
    "AWS::EC2::Volume::Id",
    "AWS::EC2::VPC::Id",
    "AWS::Route53::HostedZone::Id",
    "AWS::SSM::Parameter::Name",
];

/// The shape of a resolved value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A string.
    Text,
    /// A string holding a number.
    Number,
    /// A list of strings; `number` when each must be a number.
    List {
        /// `List<Number>`.
        number: bool,
    },
}

/// A classified parameter type: its value's shape, and whether the value names an SSM parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ParamType {
    /// Shape of the final value.
    kind: Kind,
    /// `AWS::SSM::Parameter::Value<...>`.
    ssm: bool,
}

/// Classifies a plain (non-SSM) type.
fn classify_plain(t: &str) -> Option<Kind> {
    match t {
        "String" => Some(Kind::Text),
        "Number" => Some(Kind::Number),
        "CommaDelimitedList" => Some(Kind::List { number: false }),
        _ if AWS_TYPES.contains(&t) => Some(Kind::Text),
        _ => match t.strip_prefix("List<")?.strip_suffix('>')? {
            "Number" => Some(Kind::List { number: true }),
            inner if inner == "String" || AWS_TYPES.contains(&inner) => {
                Some(Kind::List { number: false })
            }
            _ => None,
        },
    }
}

/// Classifies a declared `Type`.
fn classify(t: &str) -> Option<ParamType> {
    let t = t.trim();
    if let Some(inner) = t
        .strip_prefix("AWS::SSM::Parameter::Value<")
        .and_then(|rest| rest.strip_suffix('>'))
    {
        let kind = classify_plain(inner.trim())?;
        return Some(ParamType { kind, ssm: true });
    }
    Some(ParamType {
        kind: classify_plain(t)?,
        ssm: false,
    })
}

/// Stringifies a `Default` (or `AllowedValues` entry) the way CloudFormation does.
fn stringify(value: &Value) -> Option<String> {
    match value {
        Value::Null => Some(String::new()),
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Array(items) => items
            .iter()
            .map(|item| match item {
                Value::Array(_) | Value::Object(_) => None,
                scalar => stringify(scalar),
            })
            .collect::<Option<Vec<_>>>()
            .map(|parts| parts.join(",")),
        Value::Object(_) => None,
    }
}

/// The EC2 ids the resolved parameters of types `AWS::EC2::VPC::Id`, `AWS::EC2::Subnet::Id`
/// and `AWS::EC2::SecurityGroup::Id` (or lists of them) hold: `(parameter, type, id)`, for
/// the check CloudFormation makes that they exist.
pub(crate) fn ec2_ids(
    specs: &BTreeMap<String, ParameterSpec>,
    resolved: &BTreeMap<String, Value>,
) -> Vec<(String, &'static str, String)> {
    const CHECKED: [&str; 3] = [
        "AWS::EC2::VPC::Id",
        "AWS::EC2::Subnet::Id",
        "AWS::EC2::SecurityGroup::Id",
    ];
    let mut ids = Vec::new();
    for (name, spec) in specs {
        let t = spec.param_type.trim();
        let inner = t
            .strip_prefix("List<")
            .and_then(|r| r.strip_suffix('>'))
            .unwrap_or(t);
        let Some(kind) = CHECKED.iter().find(|k| **k == inner) else {
            continue;
        };
        let values = match resolved.get(name) {
            Some(Value::String(one)) => vec![one.clone()],
            Some(Value::Array(many)) => many
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        };
        ids.extend(
            values
                .into_iter()
                .filter(|v| !v.is_empty())
                .map(|id| (name.clone(), *kind, id)),
        );
    }
    ids
}

/// The SSM parameters that the `AWS::SSM::Parameter::Value<...>` parameters name (the value
/// given, else the `Default`), by template parameter: what to look up before resolving.
pub(crate) fn ssm_names(
    specs: &BTreeMap<String, ParameterSpec>,
    given: &BTreeMap<String, String>,
) -> Vec<(String, String)> {
    specs
        .iter()
        .filter(|(_, spec)| classify(&spec.param_type).is_some_and(|t| t.ssm))
        .filter_map(|(name, spec)| {
            Some((name.clone(), raw_value(name, spec, given.get(name)).ok()?))
        })
        .collect()
}

/// Resolves every declared parameter to the value `Ref` returns: a string, or a list of strings
/// for list types. `ssm` looks up SSM parameters by name for `AWS::SSM::Parameter::Value<...>`.
pub(crate) fn resolve_parameters(
    specs: &BTreeMap<String, ParameterSpec>,
    given: &BTreeMap<String, String>,
    ssm: &dyn Fn(&str) -> Option<String>,
) -> Result<BTreeMap<String, Value>, ParameterError> {
    if let Some(name) = given.keys().find(|name| !specs.contains_key(*name)) {
        return Err(ParameterError::Unknown { name: name.clone() });
    }
    let mut resolved = BTreeMap::new();
    for (name, spec) in specs {
        resolved.insert(name.clone(), resolve_one(name, spec, given.get(name), ssm)?);
    }
    Ok(resolved)
}

/// Resolves one parameter.
fn resolve_one(
    name: &str,
    spec: &ParameterSpec,
    given: Option<&String>,
    ssm: &dyn Fn(&str) -> Option<String>,
) -> Result<Value, ParameterError> {
    let param_type = classify(&spec.param_type).ok_or_else(|| ParameterError::UnsupportedType {
        name: name.to_owned(),
        param_type: spec.param_type.clone(),
    })?;
    let raw = raw_value(name, spec, given)?;
    let checker = Checker::new(name, spec)?;
    let text = if param_type.ssm {
        // The constraints apply to the SSM parameter name the user chose.
        checker.check(&raw, Kind::Text)?;
        ssm(&raw).ok_or_else(|| ParameterError::SsmMissing {
            name: name.to_owned(),
            ssm_name: raw.clone(),
        })?
    } else {
        raw
    };
    checker.shape(text, param_type)
}

/// The value given, else the `Default` as a string.
fn raw_value(
    name: &str,
    spec: &ParameterSpec,
    given: Option<&String>,
) -> Result<String, ParameterError> {
    match (given, &spec.default) {
        (Some(value), _) => Ok(value.clone()),
        (None, Some(default)) => stringify(default).ok_or_else(|| ParameterError::InvalidDefault {
            name: name.to_owned(),
            found: super::template::type_name(default),
        }),
        (None, None) => Err(ParameterError::MissingValue {
            name: name.to_owned(),
        }),
    }
}

impl Checker<'_> {
    /// The value `Ref` returns for `text`, checked: a string, or a list of strings for list
    /// types. The constraints of an SSM type were checked on its name already.
    fn shape(&self, text: String, param_type: ParamType) -> Result<Value, ParameterError> {
        match param_type.kind {
            Kind::Text => {
                if !param_type.ssm {
                    self.check(&text, Kind::Text)?;
                }
                Ok(Value::String(text))
            }
            Kind::Number => {
                let text = text.trim().to_owned();
                self.number(&text)?;
                if !param_type.ssm {
                    self.check(&text, Kind::Number)?;
                }
                Ok(Value::String(text))
            }
            Kind::List { number } => {
                let items: Vec<String> = text.split(',').map(|s| s.trim().to_owned()).collect();
                for item in &items {
                    if number {
                        self.number(item)?;
                    }
                    if !param_type.ssm {
                        self.check(item, if number { Kind::Number } else { Kind::Text })?;
                    }
                }
                Ok(Value::Array(items.into_iter().map(Value::String).collect()))
            }
        }
    }
}

/// The constraints of one parameter, ready to check values against.
struct Checker<'a> {
    /// The parameter's name.
    name: &'a str,
    /// Its declaration.
    spec: &'a ParameterSpec,
    /// `AllowedPattern`, anchored.
    pattern: Option<Regex>,
}

impl<'a> Checker<'a> {
    /// Compiles the parameter's `AllowedPattern`.
    fn new(name: &'a str, spec: &'a ParameterSpec) -> Result<Self, ParameterError> {
        let pattern = spec
            .allowed_pattern
            .as_deref()
            .map(|pattern| {
                Regex::new(&format!("^(?:{pattern})$")).map_err(|e| {
                    ParameterError::InvalidPattern {
                        name: name.to_owned(),
                        pattern: pattern.to_owned(),
                        message: e.to_string(),
                    }
                })
            })
            .transpose()?;
        Ok(Self {
            name,
            spec,
            pattern,
        })
    }

    /// A constraint violation for `value`.
    fn violation(&self, value: &str, constraint: String) -> ParameterError {
        ParameterError::Constraint {
            name: self.name.to_owned(),
            value: if self.spec.no_echo {
                "****".to_owned()
            } else {
                value.to_owned()
            },
            constraint,
            hint: self
                .spec
                .constraint_description
                .as_deref()
                .map(|d| format!(": {d}"))
                .unwrap_or_default(),
        }
    }

    /// Checks that `value` parses as a finite number.
    fn number(&self, value: &str) -> Result<f64, ParameterError> {
        match value.parse::<f64>() {
            Ok(n) if n.is_finite() => Ok(n),
            _ => Err(ParameterError::NotANumber {
                name: self.name.to_owned(),
                param_type: self.spec.param_type.clone(),
                value: value.to_owned(),
            }),
        }
    }

    /// Checks one scalar value (a whole value, or one list element) against every constraint.
    fn check(&self, value: &str, kind: Kind) -> Result<(), ParameterError> {
        let spec = self.spec;
        if !spec.allowed_values.is_empty() {
            let allowed: Vec<String> = spec.allowed_values.iter().filter_map(stringify).collect();
            let matches = |a: &String| {
                a == value
                    || (kind == Kind::Number
                        && matches!((a.parse::<f64>(), value.parse::<f64>()), (Ok(x), Ok(y)) if x == y))
            };
            if !allowed.iter().any(matches) {
                return Err(
                    self.violation(value, format!("AllowedValues [{}]", allowed.join(", ")))
                );
            }
        }
        if let (Some(re), Some(pattern)) = (&self.pattern, &spec.allowed_pattern)
            && !re.is_match(value)
        {
            return Err(self.violation(value, format!("AllowedPattern `{pattern}`")));
        }
        if kind == Kind::Number {
            let n = self.number(value)?;
            if let Some(min) = spec.min_value
                && n < min
            {
                return Err(self.violation(value, format!("MinValue {min}")));
            }
            if let Some(max) = spec.max_value
                && n > max
            {
                return Err(self.violation(value, format!("MaxValue {max}")));
            }
        } else {
            let len = value.chars().count() as u64;
            if let Some(min) = spec.min_length
                && len < min
            {
                return Err(self.violation(value, format!("MinLength {min}")));
            }
            if let Some(max) = spec.max_length
                && len > max
            {
                return Err(self.violation(value, format!("MaxLength {max}")));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Builds a spec from a YAML snippet, as the template parser would.
    fn spec(yaml: &str) -> ParameterSpec {
        let value: Value = serde_yaml::from_str(yaml).expect("yaml");
        serde_json::from_value(value).expect("spec")
    }

    /// A fake SSM store.
    fn ssm(name: &str) -> Option<String> {
        match name {
            "/app/name" => Some("orders".to_owned()),
            "/app/subnets" => Some("subnet-1, subnet-2".to_owned()),
            _ => None,
        }
    }

    /// Resolves a single parameter `P`.
    fn resolve(yaml: &str, given: Option<&str>) -> Result<Value, ParameterError> {
        let specs = BTreeMap::from([("P".to_owned(), spec(yaml))]);
        let given: BTreeMap<String, String> = given
            .map(|g| ("P".to_owned(), g.to_owned()))
            .into_iter()
            .collect();
        resolve_parameters(&specs, &given, &ssm).map(|mut m| m.remove("P").expect("P"))
    }

    /// Resolves each case and compares it with the expected value.
    fn assert_resolves(cases: &[(&str, Option<&str>, Value)]) {
        for (yaml, given, expected) in cases {
            let got = resolve(yaml, *given).unwrap_or_else(|e| panic!("{yaml} {given:?}: {e}"));
            assert_eq!(&got, expected, "{yaml} {given:?}");
        }
    }

    /// Strings, numbers and AWS-specific types: given, or their Default.
    #[test]
    fn scalar_values_resolve() {
        assert_resolves(&[
            ("{Type: String, Default: dev}", None, json!("dev")),
            ("{Type: String, Default: dev}", Some("prod"), json!("prod")),
            ("{Type: String, Default: ''}", None, json!("")),
            ("{Type: Number, Default: 80}", None, json!("80")),
            ("{Type: Number, Default: 1.5}", None, json!("1.5")),
            ("{Type: Number}", Some(" 42 "), json!("42")),
            ("{Type: String, Default: true}", None, json!("true")),
            ("{Type: 'AWS::EC2::VPC::Id'}", Some("vpc-1"), json!("vpc-1")),
        ]);
    }

    /// List types split on commas and trim each element.
    #[test]
    fn list_values_resolve() {
        assert_resolves(&[
            (
                "{Type: CommaDelimitedList, Default: 'a, b ,c'}",
                None,
                json!(["a", "b", "c"]),
            ),
            (
                "{Type: CommaDelimitedList, Default: [a, b]}",
                None,
                json!(["a", "b"]),
            ),
            ("{Type: 'List<Number>'}", Some("1,2"), json!(["1", "2"])),
            (
                "{Type: 'List<AWS::EC2::Subnet::Id>'}",
                Some("subnet-1,subnet-2"),
                json!(["subnet-1", "subnet-2"]),
            ),
        ]);
    }

    /// SSM parameter types resolve through SSM, their constraints applying to the name.
    #[test]
    fn ssm_values_resolve() {
        assert_resolves(&[
            (
                "{Type: 'AWS::SSM::Parameter::Value<String>', Default: /app/name}",
                None,
                json!("orders"),
            ),
            (
                "{Type: 'AWS::SSM::Parameter::Value<List<String>>'}",
                Some("/app/subnets"),
                json!(["subnet-1", "subnet-2"]),
            ),
            (
                "{Type: 'AWS::SSM::Parameter::Value<CommaDelimitedList>'}",
                Some("/app/subnets"),
                json!(["subnet-1", "subnet-2"]),
            ),
            (
                "{Type: 'AWS::SSM::Parameter::Value<String>', AllowedPattern: '/app/.*'}",
                Some("/app/name"),
                json!("orders"),
            ),
        ]);
    }

    /// Values that meet their constraints pass unchanged.
    #[test]
    fn values_within_constraints_resolve() {
        assert_resolves(&[
            (
                "{Type: String, AllowedValues: [dev, prod]}",
                Some("prod"),
                json!("prod"),
            ),
            (
                "{Type: Number, AllowedValues: [1, 2]}",
                Some("2.0"),
                json!("2.0"),
            ),
            (
                "{Type: String, AllowedPattern: '[a-z]+'}",
                Some("abc"),
                json!("abc"),
            ),
            (
                "{Type: String, MinLength: 2, MaxLength: 3}",
                Some("abc"),
                json!("abc"),
            ),
            (
                "{Type: Number, MinValue: 1, MaxValue: 10}",
                Some("10"),
                json!("10"),
            ),
            (
                "{Type: CommaDelimitedList, AllowedValues: [a, b]}",
                Some("a,b"),
                json!(["a", "b"]),
            ),
        ]);
    }

    /// Resolves each case and checks that the error contains every needle.
    fn assert_rejected(cases: &[(&str, Option<&str>, &[&str])]) {
        for (yaml, given, needles) in cases {
            let err = resolve(yaml, *given).expect_err(yaml).to_string();
            for needle in *needles {
                assert!(
                    err.contains(needle),
                    "{yaml} {given:?}: `{err}` lacks `{needle}`"
                );
            }
        }
    }

    /// Missing values, unknown types, non-numbers and unusable defaults name the parameter.
    #[test]
    fn missing_and_mistyped_values_are_rejected() {
        assert_rejected(&[
            ("{Type: String}", None, &["`P`", "no Default"]),
            ("{Type: Strin}", Some("x"), &["Parameters.P.Type", "Strin"]),
            ("{Type: 'List<Bogus>'}", Some("x"), &["List<Bogus>"]),
            ("{Type: Number}", Some("abc"), &["`abc` is not a number"]),
            ("{Type: Number}", Some("NaN"), &["not a number"]),
            (
                "{Type: 'List<Number>'}",
                Some("1,x"),
                &["`x` is not a number"],
            ),
            (
                "{Type: String, Default: {a: b}}",
                None,
                &["Parameters.P.Default"],
            ),
        ]);
    }

    /// Each constraint names itself and the value (masked for NoEcho), with the description.
    #[test]
    fn constraint_violations_are_rejected() {
        assert_rejected(&[
            (
                "{Type: String, AllowedValues: [dev, prod]}",
                Some("test"),
                &["`P`", "`test`", "AllowedValues [dev, prod]"],
            ),
            (
                "{Type: String, AllowedValues: [dev], ConstraintDescription: pick dev}",
                Some("test"),
                &["AllowedValues [dev]: pick dev"],
            ),
            (
                "{Type: CommaDelimitedList, AllowedValues: [a, b]}",
                Some("a,c"),
                &["`c`", "AllowedValues"],
            ),
            (
                "{Type: String, AllowedPattern: '[a-z]+'}",
                Some("abc1"),
                &["`abc1`", "AllowedPattern `[a-z]+`"],
            ),
            (
                "{Type: String, AllowedPattern: 'a|b'}",
                Some("ab"),
                &["AllowedPattern"],
            ),
            (
                "{Type: String, AllowedPattern: '('}",
                Some("x"),
                &["Parameters.P.AllowedPattern"],
            ),
            (
                "{Type: String, MinLength: 4}",
                Some("abc"),
                &["MinLength 4"],
            ),
            (
                "{Type: String, MaxLength: 2}",
                Some("abc"),
                &["MaxLength 2"],
            ),
            ("{Type: Number, MinValue: 5}", Some("4"), &["MinValue 5"]),
            ("{Type: Number, MaxValue: 5}", Some("5.5"), &["MaxValue 5"]),
            (
                "{Type: String, MinLength: 9, NoEcho: true}",
                Some("secret"),
                &["`****`"],
            ),
        ]);
    }

    /// An SSM parameter that does not exist, or a name outside the constraints, is refused.
    #[test]
    fn ssm_values_are_checked() {
        assert_rejected(&[
            (
                "{Type: 'AWS::SSM::Parameter::Value<String>'}",
                Some("/nope"),
                &["`P`", "SSM parameter `/nope`"],
            ),
            (
                "{Type: 'AWS::SSM::Parameter::Value<String>', AllowedValues: [/app/x]}",
                Some("/app/name"),
                &["`/app/name`"],
            ),
        ]);
    }

    #[test]
    fn ssm_names_are_the_given_value_else_the_default() {
        let specs = BTreeMap::from([
            (
                "Image".to_owned(),
                spec(
                    "{Type: 'AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>', Default: /aws/image}",
                ),
            ),
            (
                "Given".to_owned(),
                spec("{Type: 'AWS::SSM::Parameter::Value<String>', Default: /a}"),
            ),
            ("Plain".to_owned(), spec("{Type: String, Default: x}")),
        ]);
        let given = BTreeMap::from([("Given".to_owned(), "/b".to_owned())]);
        assert_eq!(
            ssm_names(&specs, &given),
            vec![
                ("Given".to_owned(), "/b".to_owned()),
                ("Image".to_owned(), "/aws/image".to_owned())
            ]
        );
    }

    #[test]
    fn undeclared_given_parameter_is_rejected() {
        let specs = BTreeMap::from([("P".to_owned(), spec("{Type: String, Default: x}"))]);
        let given = BTreeMap::from([("Q".to_owned(), "y".to_owned())]);
        let err = resolve_parameters(&specs, &given, &ssm).expect_err("unknown");
        assert!(
            matches!(err, ParameterError::Unknown { ref name } if name == "Q"),
            "{err}"
        );
    }
}
