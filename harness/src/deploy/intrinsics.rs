//! Intrinsic functions (`Ref`, `Fn::GetAtt`, `Fn::Sub`, ...) and the `Conditions` section.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde_json::{Map, Value};

use super::template::type_name;

/// An intrinsic function that cannot be evaluated. `at` is the path of the failing function,
/// e.g. `Resources.MyQueue.Properties.QueueName.Fn::Sub`.
#[derive(Debug, thiserror::Error)]
pub enum IntrinsicError {
    /// `Ref` (or a `${Name}` in `Fn::Sub`) to a name that is nothing the template declares.
    #[error("{at}: `{name}` is not a parameter, a pseudo parameter or a resource")]
    UnknownRef {
        /// Where the reference is.
        at: String,
        /// The referenced name.
        name: String,
    },
    /// `Ref`/`Fn::GetAtt` to a resource that has not been created.
    #[error(
        "{at}: resource `{logical_id}` has not been created (yet): is its Condition false, or is a DependsOn missing?"
    )]
    NotCreated {
        /// Where the reference is.
        at: String,
        /// The referenced resource.
        logical_id: String,
    },
    /// `Fn::GetAtt` naming an attribute the resource does not have.
    #[error("{at}: Fn::GetAtt {logical_id}.{attribute}: {message}")]
    Attribute {
        /// Where the reference is.
        at: String,
        /// The resource.
        logical_id: String,
        /// The attribute.
        attribute: String,
        /// The resource provider's explanation.
        message: String,
    },
    /// A function given arguments of the wrong shape or type.
    #[error("{at}: {function}: {message}")]
    InvalidArguments {
        /// Where the function is.
        at: String,
        /// The function, e.g. `Fn::Join`.
        function: String,
        /// What is wrong.
        message: String,
    },
    /// `Fn::If` or `Condition` naming a condition the template does not declare.
    #[error("{at}: condition `{name}` is not declared in the Conditions section")]
    UnknownCondition {
        /// Where the reference is.
        at: String,
        /// The condition's name.
        name: String,
    },
    /// An object key `Fn::...` that is no intrinsic function.
    #[error("{at}: `{function}` is not an intrinsic function")]
    UnknownFunction {
        /// Where it is.
        at: String,
        /// The key.
        function: String,
    },
    /// A real CloudFormation function vpclab does not implement.
    #[error("{at}: {function} is not supported by vpclab")]
    Unsupported {
        /// Where it is.
        at: String,
        /// The function.
        function: String,
    },
    /// A function that may not appear inside the Conditions section.
    #[error(
        "{at}: {function} cannot be used in Conditions (only Fn::Equals, Fn::And, Fn::Or, Fn::Not, Fn::FindInMap, Condition and Ref to parameters)"
    )]
    NotAllowedInCondition {
        /// Where it is.
        at: String,
        /// The function.
        function: String,
    },
    /// Conditions that refer to each other in a loop.
    #[error("conditions refer to each other in a cycle: {}", cycle.join(" -> "))]
    ConditionCycle {
        /// The conditions in the cycle, the first repeated at the end.
        cycle: Vec<String>,
    },
    /// `Fn::FindInMap` on a map or key that does not exist.
    #[error("{at}: Fn::FindInMap: {message}")]
    MissingMapping {
        /// Where the function is.
        at: String,
        /// Which map or key is missing.
        message: String,
    },
    /// `Fn::Select` past the end of its list.
    #[error("{at}: Fn::Select index {index} is out of range for a list of {len} element(s)")]
    SelectOutOfRange {
        /// Where the function is.
        at: String,
        /// The requested index.
        index: u64,
        /// The list's length.
        len: usize,
    },
    /// `Fn::ImportValue` of a name no stack exports.
    #[error("{at}: Fn::ImportValue: no stack exports `{export}`")]
    MissingExport {
        /// Where the function is.
        at: String,
        /// The export name.
        export: String,
    },
}

/// Pseudo parameter values for one stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pseudo {
    /// `AWS::AccountId`.
    pub(crate) account_id: String,
    /// `AWS::Region`.
    pub(crate) region: String,
    /// `AWS::StackName`.
    pub(crate) stack_name: String,
    /// `AWS::StackId`.
    pub(crate) stack_id: String,
    /// `AWS::Partition` (`aws`).
    pub(crate) partition: String,
    /// `AWS::URLSuffix` (`amazonaws.com`).
    pub(crate) url_suffix: String,
}

impl Pseudo {
    /// The value of a pseudo parameter; `Ok(None)` for `AWS::NoValue`, `Err(())` for unknown names.
    fn get(&self, name: &str) -> Result<Option<Value>, ()> {
        let s = |v: &String| Ok(Some(Value::String(v.clone())));
        match name {
            "AWS::AccountId" => s(&self.account_id),
            "AWS::Region" => s(&self.region),
            "AWS::StackName" => s(&self.stack_name),
            "AWS::StackId" => s(&self.stack_id),
            "AWS::Partition" => s(&self.partition),
            "AWS::URLSuffix" => s(&self.url_suffix),
            "AWS::NotificationARNs" => Ok(Some(Value::Array(Vec::new()))),
            "AWS::NoValue" => Ok(None),
            _ => Err(()),
        }
    }
}

/// Access to the stack's resources while evaluating.
pub(crate) trait ResourceLookup {
    /// What `Ref` on a created resource returns; None if not created (yet).
    fn physical_id(&self, logical_id: &str) -> Option<Value>;
    /// `Fn::GetAtt`; Err(message) when the resource exists but has no such attribute.
    fn attribute(&self, logical_id: &str, attribute: &str) -> Result<Value, String>;
    /// Whether the template declares a resource of this name, created or not. Used only to tell
    /// [`IntrinsicError::UnknownRef`] from [`IntrinsicError::NotCreated`]; by default every name
    /// not otherwise known is taken to be a resource not created yet.
    fn is_declared(&self, logical_id: &str) -> bool {
        let _ = logical_id;
        true
    }
}

/// Everything intrinsic functions may read while a stack is being created.
pub(crate) struct EvalContext<'a> {
    /// Resolved parameters (strings, or lists for list types).
    pub(crate) parameters: &'a BTreeMap<String, Value>,
    /// Pseudo parameters.
    pub(crate) pseudo: &'a Pseudo,
    /// The `Mappings` section.
    pub(crate) mappings: &'a Map<String, Value>,
    /// Evaluated conditions (see [`evaluate_conditions`]).
    pub(crate) conditions: &'a BTreeMap<String, bool>,
    /// The stack's resources.
    pub(crate) resources: &'a dyn ResourceLookup,
    /// Other stacks' exports, by export name.
    pub(crate) exports: &'a dyn Fn(&str) -> Option<Value>,
    /// The availability zones of a region.
    pub(crate) availability_zones: &'a dyn Fn(&str) -> Vec<String>,
}

/// Evaluates every intrinsic function inside `value`. `Ref: AWS::NoValue` (directly or through
/// `Fn::If`) removes the object key or list element holding it; a whole value that is
/// `AWS::NoValue` becomes `Null`.
#[cfg(test)]
pub(crate) fn evaluate(value: &Value, ctx: &EvalContext<'_>) -> Result<Value, IntrinsicError> {
    evaluate_at(value, ctx, "")
}

/// [`evaluate`], naming `base` (e.g. `Resources.MyQueue.Properties`) as the value's location in
/// error messages.
pub(crate) fn evaluate_at(
    value: &Value,
    ctx: &EvalContext<'_>,
    base: &str,
) -> Result<Value, IntrinsicError> {
    let evaluator = Evaluator {
        parameters: ctx.parameters,
        pseudo: ctx.pseudo,
        mappings: ctx.mappings,
        mode: Mode::Stack(ctx),
    };
    let mut path = Vec::new();
    if !base.is_empty() {
        path.push(base.to_owned());
    }
    Ok(evaluator.eval(value, &mut path)?.unwrap_or(Value::Null))
}

/// Evaluates the `Conditions` section. Conditions may use `{"Condition": name}` to refer to each
/// other; unknown names and cycles are errors.
pub(crate) fn evaluate_conditions(
    conditions: &Map<String, Value>,
    parameters: &BTreeMap<String, Value>,
    pseudo: &Pseudo,
    mappings: &Map<String, Value>,
) -> Result<BTreeMap<String, bool>, IntrinsicError> {
    let state = RefCell::new(ConditionState::default());
    let evaluator = Evaluator {
        parameters,
        pseudo,
        mappings,
        mode: Mode::Conditions {
            definitions: conditions,
            state: &state,
        },
    };
    for name in conditions.keys() {
        evaluator.condition(name, &["Conditions".to_owned()])?;
    }
    Ok(state.into_inner().done)
}

/// Functions allowed inside the Conditions section.
const CONDITION_FUNCTIONS: &[&str] = &[
    "Ref",
    "Fn::Equals",
    "Fn::And",
    "Fn::Or",
    "Fn::Not",
    "Fn::FindInMap",
];

/// Progress of [`evaluate_conditions`].
#[derive(Default)]
struct ConditionState {
    /// Conditions evaluated so far.
    done: BTreeMap<String, bool>,
    /// Conditions being evaluated, outermost first (for cycle detection).
    stack: Vec<String>,
}

/// What is being evaluated.
enum Mode<'a> {
    /// Resource properties, outputs, ...: everything is available.
    Stack(&'a EvalContext<'a>),
    /// The Conditions section: only parameters, pseudo parameters and mappings.
    Conditions {
        /// The unevaluated conditions.
        definitions: &'a Map<String, Value>,
        /// Results and the evaluation stack.
        state: &'a RefCell<ConditionState>,
    },
}

/// A recursive evaluator. `path` is the location being evaluated, one segment per entry.
struct Evaluator<'a> {
    /// Resolved parameters.
    parameters: &'a BTreeMap<String, Value>,
    /// Pseudo parameters.
    pseudo: &'a Pseudo,
    /// The Mappings section.
    mappings: &'a Map<String, Value>,
    /// Stack or Conditions evaluation.
    mode: Mode<'a>,
}

/// Renders a path (`["Resources.Q.Properties", "Tags", "[0]"]` -> `Resources.Q.Properties.Tags[0]`).
fn render(path: &[String]) -> String {
    let mut out = String::new();
    for segment in path {
        if !out.is_empty() && !segment.starts_with('[') {
            out.push('.');
        }
        out.push_str(segment);
    }
    if out.is_empty() {
        out.push_str("the value");
    }
    out
}

/// Scalars are compared as CloudFormation strings (`80` equals `"80"`); others structurally.
fn loose_eq(a: &Value, b: &Value) -> bool {
    match (scalar_string(a), scalar_string(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// A string, number or boolean as a string.
fn scalar_string(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Standard base64 with padding.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// `Fn::Cidr`: `count` consecutive IPv4 subnets of `ip_block`, each with `bits` host bits.
fn cidr(ip_block: &str, count: u64, bits: u64) -> Result<Vec<String>, String> {
    if ip_block.contains(':') {
        return Err(format!(
            "`{ip_block}` is IPv6; vpclab supports only IPv4 blocks"
        ));
    }
    let (address, prefix) = ip_block
        .split_once('/')
        .ok_or_else(|| format!("`{ip_block}` is not a CIDR block such as 10.0.0.0/16"))?;
    let address: Ipv4Addr = address
        .trim()
        .parse()
        .map_err(|_| format!("`{ip_block}` does not start with an IPv4 address"))?;
    let prefix: u32 = prefix
        .trim()
        .parse()
        .ok()
        .filter(|p| *p <= 32)
        .ok_or_else(|| format!("`{ip_block}` has an invalid prefix length (0 to 32)"))?;
    if !(1..=256).contains(&count) {
        return Err(format!("count {count} must be between 1 and 256"));
    }
    let host_bits = u32::try_from(bits)
        .ok()
        .filter(|b| *b <= 32 - prefix)
        .ok_or_else(|| {
            format!(
                "cidrBits {bits} does not fit in `{ip_block}`: at most {} for a /{prefix}",
                32 - prefix
            )
        })?;
    let available = 1u64 << (32 - prefix - host_bits);
    if count > available {
        return Err(format!(
            "`{ip_block}` holds only {available} subnet(s) of /{}, not {count}",
            32 - host_bits
        ));
    }
    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix)
    };
    let base = u64::from(u32::from(address) & mask);
    Ok((0..count)
        .map(|i| {
            let start = base + (i << host_bits);
            let start = u32::try_from(start).unwrap_or(u32::MAX);
            format!("{}/{}", Ipv4Addr::from(start), 32 - host_bits)
        })
        .collect())
}

impl Evaluator<'_> {
    /// An [`IntrinsicError::InvalidArguments`] at `path`.
    fn invalid(
        &self,
        path: &[String],
        function: &str,
        message: impl Into<String>,
    ) -> IntrinsicError {
        IntrinsicError::InvalidArguments {
            at: render(path),
            function: function.to_owned(),
            message: message.into(),
        }
    }

    /// Evaluates a value; `None` means `AWS::NoValue`.
    fn eval(&self, value: &Value, path: &mut Vec<String>) -> Result<Option<Value>, IntrinsicError> {
        match value {
            Value::Object(map) => {
                if map.len() == 1
                    && let Some((key, arg)) = map.iter().next()
                    && (key == "Ref" || key.starts_with("Fn::"))
                {
                    path.push(key.clone());
                    let result = self.function(key, arg, path)?;
                    path.pop();
                    return Ok(result);
                }
                let mut out = Map::new();
                for (key, item) in map {
                    path.push(key.clone());
                    let item = self.eval(item, path)?;
                    path.pop();
                    if let Some(item) = item {
                        out.insert(key.clone(), item);
                    }
                }
                Ok(Some(Value::Object(out)))
            }
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    path.push(format!("[{i}]"));
                    let item = self.eval(item, path)?;
                    path.pop();
                    out.extend(item);
                }
                Ok(Some(Value::Array(out)))
            }
            scalar => Ok(Some(scalar.clone())),
        }
    }

    /// Evaluates a function argument that must not be `AWS::NoValue`.
    fn required(
        &self,
        value: &Value,
        path: &mut Vec<String>,
        function: &str,
    ) -> Result<Value, IntrinsicError> {
        self.eval(value, path)?
            .ok_or_else(|| self.invalid(path, function, "AWS::NoValue cannot be used here"))
    }

    /// Evaluates argument `index` of a list-form function.
    fn arg(
        &self,
        args: &[Value],
        index: usize,
        path: &mut Vec<String>,
        function: &str,
    ) -> Result<Value, IntrinsicError> {
        path.push(format!("[{index}]"));
        let value = match args.get(index) {
            Some(arg) => self.required(arg, path, function),
            None => Err(self.invalid(path, function, "argument missing")),
        };
        path.pop();
        value
    }

    /// Evaluates argument `index` and requires a string (numbers and booleans are stringified).
    fn string_arg(
        &self,
        args: &[Value],
        index: usize,
        path: &mut Vec<String>,
        function: &str,
    ) -> Result<String, IntrinsicError> {
        let value = self.arg(args, index, path, function)?;
        scalar_string(&value).ok_or_else(|| {
            self.invalid(
                path,
                function,
                format!(
                    "argument {index} must be a string, found {}",
                    type_name(&value)
                ),
            )
        })
    }

    /// Evaluates argument `index` and requires a non-negative integer (or a string holding one).
    fn integer_arg(
        &self,
        args: &[Value],
        index: usize,
        path: &mut Vec<String>,
        function: &str,
    ) -> Result<u64, IntrinsicError> {
        let value = self.arg(args, index, path, function)?;
        let parsed = match &value {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        };
        parsed.ok_or_else(|| {
            self.invalid(
                path,
                function,
                format!("argument {index} must be a non-negative integer, found {value}"),
            )
        })
    }

    /// The arguments of a list-form function, checking their number.
    fn list_args<'v>(
        &self,
        arg: &'v Value,
        path: &[String],
        function: &str,
        counts: std::ops::RangeInclusive<usize>,
    ) -> Result<&'v [Value], IntrinsicError> {
        let expected = if counts.start() == counts.end() {
            counts.start().to_string()
        } else {
            format!("{} to {}", counts.start(), counts.end())
        };
        match arg {
            Value::Array(items) if counts.contains(&items.len()) => Ok(items),
            Value::Array(items) => Err(self.invalid(
                path,
                function,
                format!(
                    "takes a list of {expected} arguments, found {}",
                    items.len()
                ),
            )),
            other => Err(self.invalid(
                path,
                function,
                format!(
                    "takes a list of {expected} arguments, found {}",
                    type_name(other)
                ),
            )),
        }
    }

    /// Dispatches one intrinsic function; `path` ends with the function's key.
    fn function(
        &self,
        name: &str,
        arg: &Value,
        path: &mut Vec<String>,
    ) -> Result<Option<Value>, IntrinsicError> {
        if matches!(self.mode, Mode::Conditions { .. }) && !CONDITION_FUNCTIONS.contains(&name) {
            return Err(IntrinsicError::NotAllowedInCondition {
                at: render(path),
                function: name.to_owned(),
            });
        }
        match name {
            "Ref" => self.ref_function(arg, path),
            "Fn::GetAtt" => self.get_att_function(arg, path).map(Some),
            "Fn::Sub" => self.sub(arg, path).map(|s| Some(Value::String(s))),
            "Fn::Join" => self.join(arg, path).map(Some),
            "Fn::Split" => self.split(arg, path).map(Some),
            "Fn::Select" => self.select(arg, path).map(Some),
            "Fn::If" => self.if_function(arg, path),
            "Fn::Equals" => self.equals(arg, path).map(Some),
            "Fn::And" | "Fn::Or" => self.and_or(name, arg, path).map(Some),
            "Fn::Not" => self.not(arg, path).map(Some),
            "Fn::FindInMap" => self.find_in_map(arg, path).map(Some),
            "Fn::GetAZs" => self.get_azs(arg, path).map(Some),
            "Fn::Cidr" => self.cidr_function(arg, path).map(Some),
            "Fn::ImportValue" => self.import_value(arg, path).map(Some),
            "Fn::Base64" => self.base64_function(arg, path).map(Some),
            "Fn::Transform" => Err(IntrinsicError::Unsupported {
                at: render(path),
                function: "Fn::Transform (macros such as AWS::Include)".to_owned(),
            }),
            _ => Err(IntrinsicError::UnknownFunction {
                at: render(path),
                function: name.to_owned(),
            }),
        }
    }
}

/// The intrinsic functions, one method each, and the references and conditions they read;
/// `path` ends with the function's key.
impl Evaluator<'_> {
    /// `Ref name`.
    fn ref_function(&self, arg: &Value, path: &[String]) -> Result<Option<Value>, IntrinsicError> {
        match arg {
            Value::String(target) => self.reference(target, path),
            other => Err(self.invalid(
                path,
                "Ref",
                format!(
                    "takes the name of a parameter or resource, found {}",
                    type_name(other)
                ),
            )),
        }
    }

    /// `Fn::GetAtt`, as `LogicalId.Attribute` or `[LogicalId, Attribute]` (the attribute may
    /// be computed).
    fn get_att_function(
        &self,
        arg: &Value,
        path: &mut Vec<String>,
    ) -> Result<Value, IntrinsicError> {
        const NAME: &str = "Fn::GetAtt";
        let (resource, attribute) = match arg {
            Value::String(s) => match s.split_once('.') {
                Some((r, a)) => (r.to_owned(), a.to_owned()),
                None => {
                    return Err(self.invalid(
                        path,
                        NAME,
                        format!("`{s}` must have the form LogicalId.Attribute"),
                    ));
                }
            },
            Value::Array(_) => {
                let items = self.list_args(arg, path, NAME, 2..=2)?;
                let Value::String(resource) = &items[0] else {
                    return Err(self.invalid(
                        path,
                        NAME,
                        "the first argument must be a logical id",
                    ));
                };
                (resource.clone(), self.string_arg(items, 1, path, NAME)?)
            }
            other => {
                return Err(self.invalid(
                    path,
                    NAME,
                    format!("takes [LogicalId, Attribute], found {}", type_name(other)),
                ));
            }
        };
        self.get_att(&resource, &attribute, path)
    }

    /// `Fn::Join [delimiter, [strings]]`.
    fn join(&self, arg: &Value, path: &mut Vec<String>) -> Result<Value, IntrinsicError> {
        const NAME: &str = "Fn::Join";
        let args = self.list_args(arg, path, NAME, 2..=2)?;
        let delimiter = self.string_arg(args, 0, path, NAME)?;
        let items = self.list(args, 1, path, NAME)?;
        let parts = items
            .iter()
            .map(|item| {
                scalar_string(item).ok_or_else(|| {
                    self.invalid(
                        path,
                        NAME,
                        format!("can only join strings, found {}", type_name(item)),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Value::String(parts.join(&delimiter)))
    }

    /// `Fn::Split [delimiter, string]`.
    fn split(&self, arg: &Value, path: &mut Vec<String>) -> Result<Value, IntrinsicError> {
        const NAME: &str = "Fn::Split";
        let args = self.list_args(arg, path, NAME, 2..=2)?;
        let delimiter = self.string_arg(args, 0, path, NAME)?;
        if delimiter.is_empty() {
            return Err(self.invalid(path, NAME, "the delimiter must not be empty"));
        }
        let source = self.string_arg(args, 1, path, NAME)?;
        Ok(Value::Array(
            source
                .split(delimiter.as_str())
                .map(|s| Value::String(s.to_owned()))
                .collect(),
        ))
    }

    /// `Fn::Select [index, list]`.
    fn select(&self, arg: &Value, path: &mut Vec<String>) -> Result<Value, IntrinsicError> {
        const NAME: &str = "Fn::Select";
        let args = self.list_args(arg, path, NAME, 2..=2)?;
        let index = self.integer_arg(args, 0, path, NAME)?;
        let items = self.list(args, 1, path, NAME)?;
        usize::try_from(index)
            .ok()
            .and_then(|i| items.get(i))
            .cloned()
            .ok_or_else(|| IntrinsicError::SelectOutOfRange {
                at: render(path),
                index,
                len: items.len(),
            })
    }

    /// `Fn::If [condition, when true, when false]`; only the chosen branch is evaluated.
    fn if_function(
        &self,
        arg: &Value,
        path: &mut Vec<String>,
    ) -> Result<Option<Value>, IntrinsicError> {
        const NAME: &str = "Fn::If";
        let args = self.list_args(arg, path, NAME, 3..=3)?;
        let Value::String(condition) = &args[0] else {
            return Err(self.invalid(path, NAME, "the first argument must be a condition name"));
        };
        let branch = if self.condition(condition, path)? {
            1
        } else {
            2
        };
        path.push(format!("[{branch}]"));
        let value = self.eval(&args[branch], path)?;
        path.pop();
        Ok(value)
    }

    /// `Fn::Equals [a, b]`, comparing scalars as strings.
    fn equals(&self, arg: &Value, path: &mut Vec<String>) -> Result<Value, IntrinsicError> {
        const NAME: &str = "Fn::Equals";
        let args = self.list_args(arg, path, NAME, 2..=2)?;
        let a = self.arg(args, 0, path, NAME)?;
        let b = self.arg(args, 1, path, NAME)?;
        Ok(Value::Bool(loose_eq(&a, &b)))
    }

    /// `Fn::And` or `Fn::Or` (`name`) over 2 to 10 conditions.
    fn and_or(
        &self,
        name: &str,
        arg: &Value,
        path: &mut Vec<String>,
    ) -> Result<Value, IntrinsicError> {
        let args = self.list_args(arg, path, name, 2..=10)?;
        let mut results = Vec::with_capacity(args.len());
        for (i, item) in args.iter().enumerate() {
            path.push(format!("[{i}]"));
            results.push(self.boolean(item, path)?);
            path.pop();
        }
        Ok(Value::Bool(if name == "Fn::And" {
            results.iter().all(|b| *b)
        } else {
            results.iter().any(|b| *b)
        }))
    }

    /// `Fn::Not [condition]`.
    fn not(&self, arg: &Value, path: &mut Vec<String>) -> Result<Value, IntrinsicError> {
        let args = self.list_args(arg, path, "Fn::Not", 1..=1)?;
        path.push("[0]".to_owned());
        let value = self.boolean(&args[0], path)?;
        path.pop();
        Ok(Value::Bool(!value))
    }

    /// `Fn::GetAZs region`; an empty region means the stack's.
    fn get_azs(&self, arg: &Value, path: &mut Vec<String>) -> Result<Value, IntrinsicError> {
        const NAME: &str = "Fn::GetAZs";
        let region = match self.required(arg, path, NAME)? {
            Value::Null => String::new(),
            Value::String(s) => s,
            other => {
                return Err(self.invalid(
                    path,
                    NAME,
                    format!("takes a region name, found {}", type_name(&other)),
                ));
            }
        };
        let region = if region.is_empty() {
            self.pseudo.region.clone()
        } else {
            region
        };
        let zones = match &self.mode {
            Mode::Stack(ctx) => (ctx.availability_zones)(&region),
            Mode::Conditions { .. } => Vec::new(),
        };
        Ok(Value::Array(zones.into_iter().map(Value::String).collect()))
    }

    /// `Fn::Cidr [block, count, host bits]`.
    fn cidr_function(&self, arg: &Value, path: &mut Vec<String>) -> Result<Value, IntrinsicError> {
        const NAME: &str = "Fn::Cidr";
        let args = self.list_args(arg, path, NAME, 3..=3)?;
        let block = self.string_arg(args, 0, path, NAME)?;
        let count = self.integer_arg(args, 1, path, NAME)?;
        let bits = self.integer_arg(args, 2, path, NAME)?;
        let subnets = cidr(&block, count, bits).map_err(|m| self.invalid(path, NAME, m))?;
        Ok(Value::Array(
            subnets.into_iter().map(Value::String).collect(),
        ))
    }

    /// `Fn::ImportValue name`: another stack's export.
    fn import_value(&self, arg: &Value, path: &mut Vec<String>) -> Result<Value, IntrinsicError> {
        const NAME: &str = "Fn::ImportValue";
        let export = match self.required(arg, path, NAME)? {
            Value::String(s) => s,
            other => {
                return Err(self.invalid(
                    path,
                    NAME,
                    format!("takes an export name, found {}", type_name(&other)),
                ));
            }
        };
        let value = match &self.mode {
            Mode::Stack(ctx) => (ctx.exports)(&export),
            Mode::Conditions { .. } => None,
        };
        value.ok_or_else(|| IntrinsicError::MissingExport {
            at: render(path),
            export,
        })
    }

    /// `Fn::Base64 string`.
    fn base64_function(
        &self,
        arg: &Value,
        path: &mut Vec<String>,
    ) -> Result<Value, IntrinsicError> {
        const NAME: &str = "Fn::Base64";
        match self.required(arg, path, NAME)? {
            Value::String(s) => Ok(Value::String(base64(s.as_bytes()))),
            other => Err(self.invalid(
                path,
                NAME,
                format!("takes a string, found {}", type_name(&other)),
            )),
        }
    }

    /// Evaluates argument `index` and requires a list.
    fn list(
        &self,
        args: &[Value],
        index: usize,
        path: &mut Vec<String>,
        function: &str,
    ) -> Result<Vec<Value>, IntrinsicError> {
        match self.arg(args, index, path, function)? {
            Value::Array(items) => Ok(items),
            other => Err(self.invalid(
                path,
                function,
                format!(
                    "argument {index} must be a list, found {}",
                    type_name(&other)
                ),
            )),
        }
    }

    /// `Ref` to a pseudo parameter, parameter or (when evaluating a stack) resource.
    fn reference(&self, target: &str, path: &[String]) -> Result<Option<Value>, IntrinsicError> {
        let unknown = || IntrinsicError::UnknownRef {
            at: render(path),
            name: target.to_owned(),
        };
        if target.starts_with("AWS::") {
            return self.pseudo.get(target).map_err(|()| unknown());
        }
        if let Some(value) = self.parameters.get(target) {
            return Ok(Some(value.clone()));
        }
        match &self.mode {
            Mode::Stack(ctx) => match ctx.resources.physical_id(target) {
                Some(id) => Ok(Some(id)),
                None if ctx.resources.is_declared(target) => Err(IntrinsicError::NotCreated {
                    at: render(path),
                    logical_id: target.to_owned(),
                }),
                None => Err(unknown()),
            },
            Mode::Conditions { .. } => Err(unknown()),
        }
    }

    /// `Fn::GetAtt resource.attribute`.
    fn get_att(
        &self,
        resource: &str,
        attribute: &str,
        path: &[String],
    ) -> Result<Value, IntrinsicError> {
        let Mode::Stack(ctx) = &self.mode else {
            return Err(IntrinsicError::NotAllowedInCondition {
                at: render(path),
                function: "Fn::GetAtt".to_owned(),
            });
        };
        if ctx.resources.physical_id(resource).is_none() {
            return Err(if ctx.resources.is_declared(resource) {
                IntrinsicError::NotCreated {
                    at: render(path),
                    logical_id: resource.to_owned(),
                }
            } else {
                IntrinsicError::UnknownRef {
                    at: render(path),
                    name: resource.to_owned(),
                }
            });
        }
        ctx.resources
            .attribute(resource, attribute)
            .map_err(|message| IntrinsicError::Attribute {
                at: render(path),
                logical_id: resource.to_owned(),
                attribute: attribute.to_owned(),
                message,
            })
    }

    /// `Fn::Sub`, in its string or `[string, {variables}]` form.
    fn sub(&self, arg: &Value, path: &mut Vec<String>) -> Result<String, IntrinsicError> {
        let (template, variables) = self.sub_arguments(arg, path)?;
        let mut out = String::with_capacity(template.len());
        let mut rest = template.as_str();
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            if let Some(literal) = after.strip_prefix('!') {
                out.push_str("${");
                rest = literal;
                continue;
            }
            let Some(end) = after.find('}') else {
                out.push_str(&rest[start..]);
                rest = "";
                break;
            };
            let variable = after[..end].trim();
            let value = self.sub_variable(variable, &variables, path)?;
            let text = scalar_string(&value).ok_or_else(|| {
                self.invalid(
                    path,
                    "Fn::Sub",
                    format!(
                        "${{{variable}}} is {}, not a string (use Fn::Join for lists)",
                        type_name(&value)
                    ),
                )
            })?;
            out.push_str(&text);
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// The template of an `Fn::Sub` and its evaluated variables.
    fn sub_arguments(
        &self,
        arg: &Value,
        path: &mut Vec<String>,
    ) -> Result<(String, Map<String, Value>), IntrinsicError> {
        const NAME: &str = "Fn::Sub";
        if let Value::String(s) = arg {
            return Ok((s.clone(), Map::new()));
        }
        if !arg.is_array() {
            return Err(self.invalid(
                path,
                NAME,
                format!(
                    "takes a string or [string, {{variables}}], found {}",
                    type_name(arg)
                ),
            ));
        }
        let args = self.list_args(arg, path, NAME, 2..=2)?;
        let template = match self.arg(args, 0, path, NAME)? {
            Value::String(s) => s,
            other => {
                return Err(self.invalid(
                    path,
                    NAME,
                    format!("the template must be a string, found {}", type_name(&other)),
                ));
            }
        };
        let Value::Object(raw) = &args[1] else {
            return Err(self.invalid(
                path,
                NAME,
                "the second argument must be a mapping of variables",
            ));
        };
        let mut variables = Map::new();
        path.push("[1]".to_owned());
        for (key, value) in raw {
            path.push(key.clone());
            let value = self.required(value, path, NAME)?;
            path.pop();
            variables.insert(key.clone(), value);
        }
        path.pop();
        Ok((template, variables))
    }

    /// The value of one `${variable}` inside `Fn::Sub`.
    fn sub_variable(
        &self,
        variable: &str,
        variables: &Map<String, Value>,
        path: &[String],
    ) -> Result<Value, IntrinsicError> {
        if let Some(value) = variables.get(variable) {
            return Ok(value.clone());
        }
        if !variable.starts_with("AWS::")
            && let Some((resource, attribute)) = variable.split_once('.')
        {
            return self.get_att(resource, attribute, path);
        }
        self.reference(variable, path)?.ok_or_else(|| {
            self.invalid(
                path,
                "Fn::Sub",
                format!("${{{variable}}} cannot be AWS::NoValue"),
            )
        })
    }

    /// `Fn::FindInMap [map, top-level key, second-level key (, {DefaultValue: v})]`.
    fn find_in_map(&self, arg: &Value, path: &mut Vec<String>) -> Result<Value, IntrinsicError> {
        const NAME: &str = "Fn::FindInMap";
        let args = self.list_args(arg, path, NAME, 3..=4)?;
        let map = self.string_arg(args, 0, path, NAME)?;
        let top = self.string_arg(args, 1, path, NAME)?;
        let second = self.string_arg(args, 2, path, NAME)?;
        let default = match args.get(3) {
            None => None,
            Some(Value::Object(options))
                if options.len() == 1 && options.contains_key("DefaultValue") =>
            {
                path.push("[3]".to_owned());
                path.push("DefaultValue".to_owned());
                let value = self.required(&options["DefaultValue"], path, NAME)?;
                path.truncate(path.len() - 2);
                Some(value)
            }
            Some(_) => {
                return Err(self.invalid(
                    path,
                    NAME,
                    "the fourth argument must be {DefaultValue: value}",
                ));
            }
        };
        let missing = |message: String| IntrinsicError::MissingMapping {
            at: render(path),
            message,
        };
        let Some(mapping) = self.mappings.get(&map) else {
            return default.ok_or_else(|| missing(format!("no mapping `{map}` in Mappings")));
        };
        let Some(entry) = mapping.get(&top) else {
            return default.ok_or_else(|| missing(format!("mapping `{map}` has no key `{top}`")));
        };
        match entry.get(&second) {
            Some(value) => Ok(value.clone()),
            None => default.ok_or_else(|| {
                missing(format!("mapping `{map}` key `{top}` has no key `{second}`"))
            }),
        }
    }

    /// Evaluates a condition operand: `{"Condition": name}` or a function yielding a boolean.
    fn boolean(&self, value: &Value, path: &mut Vec<String>) -> Result<bool, IntrinsicError> {
        if let Value::Object(map) = value
            && map.len() == 1
            && let Some(Value::String(name)) = map.get("Condition")
        {
            path.push("Condition".to_owned());
            let result = self.condition(name, path)?;
            path.pop();
            return Ok(result);
        }
        match self.eval(value, path)? {
            Some(Value::Bool(b)) => Ok(b),
            other => Err(IntrinsicError::InvalidArguments {
                at: render(path),
                function: "condition".to_owned(),
                message: format!(
                    "expected Fn::Equals, Fn::And, Fn::Or, Fn::Not or Condition, found {}",
                    other.as_ref().map_or("AWS::NoValue", type_name)
                ),
            }),
        }
    }

    /// The value of a named condition; `path` locates the reference, for errors.
    fn condition(&self, name: &str, path: &[String]) -> Result<bool, IntrinsicError> {
        let unknown = || IntrinsicError::UnknownCondition {
            at: render(path),
            name: name.to_owned(),
        };
        match &self.mode {
            Mode::Stack(ctx) => ctx.conditions.get(name).copied().ok_or_else(unknown),
            Mode::Conditions { definitions, state } => {
                let body = {
                    let mut state = state.borrow_mut();
                    if let Some(done) = state.done.get(name) {
                        return Ok(*done);
                    }
                    if let Some(pos) = state.stack.iter().position(|n| n == name) {
                        let mut cycle = state.stack[pos..].to_vec();
                        cycle.push(name.to_owned());
                        return Err(IntrinsicError::ConditionCycle { cycle });
                    }
                    let body = definitions.get(name).ok_or_else(unknown)?;
                    state.stack.push(name.to_owned());
                    body
                };
                // The borrow is released: the body may refer to other conditions.
                let mut own_path = vec!["Conditions".to_owned(), name.to_owned()];
                let result = self.boolean(body, &mut own_path);
                let mut state = state.borrow_mut();
                state.stack.pop();
                let result = result?;
                state.done.insert(name.to_owned(), result);
                Ok(result)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::template::parse_document;
    use serde_json::json;

    /// Resources backed by a map: logical id -> (physical id, attributes).
    struct Fake(BTreeMap<&'static str, (Value, Value)>);

    impl ResourceLookup for Fake {
        fn physical_id(&self, logical_id: &str) -> Option<Value> {
            self.0.get(logical_id).map(|(id, _)| id.clone())
        }
        fn attribute(&self, logical_id: &str, attribute: &str) -> Result<Value, String> {
            self.0
                .get(logical_id)
                .and_then(|(_, attrs)| attrs.get(attribute).cloned())
                .ok_or_else(|| format!("no attribute {attribute}"))
        }
        fn is_declared(&self, logical_id: &str) -> bool {
            self.0.contains_key(logical_id) || logical_id == "Pending"
        }
    }

    fn pseudo() -> Pseudo {
        Pseudo {
            account_id: "000000000000".into(),
            region: "us-east-1".into(),
            stack_name: "demo".into(),
            stack_id: "arn:aws:cloudformation:us-east-1:000000000000:stack/demo/1".into(),
            partition: "aws".into(),
            url_suffix: "amazonaws.com".into(),
        }
    }

    fn parameters() -> BTreeMap<String, Value> {
        BTreeMap::from([
            ("Env".to_owned(), json!("prod")),
            ("Port".to_owned(), json!("80")),
            ("Subnets".to_owned(), json!(["subnet-1", "subnet-2"])),
            ("Index".to_owned(), json!("1")),
        ])
    }

    fn mappings() -> Map<String, Value> {
        let Value::Object(m) = json!({"Sizes": {"prod": {"Memory": 512}, "dev": {"Memory": 128}}})
        else {
            unreachable!()
        };
        m
    }

    fn resources() -> Fake {
        Fake(BTreeMap::from([
            (
                "Queue",
                (
                    json!("https://sqs/q"),
                    json!({"Arn": "arn:aws:sqs:us-east-1:0:q", "QueueName": "q"}),
                ),
            ),
            (
                "Db",
                (
                    json!("db-1"),
                    json!({"Endpoint.Address": "db.local", "Ports": [1, 2]}),
                ),
            ),
        ]))
    }

    /// Evaluates a YAML snippet (short tags allowed) as `Resources.R.Properties`.
    fn eval(yaml: &str) -> Result<Value, IntrinsicError> {
        eval_at(yaml, "Resources.R.Properties")
    }

    /// Evaluates a YAML snippet in the shared fixture context; `base` "" uses [`evaluate`].
    fn eval_at(yaml: &str, base: &str) -> Result<Value, IntrinsicError> {
        let value = parse_document(yaml).unwrap_or_else(|e| panic!("{yaml}: {e}"));
        let params = parameters();
        let pseudo = pseudo();
        let maps = mappings();
        let conditions = BTreeMap::from([("IsProd".to_owned(), true), ("IsDev".to_owned(), false)]);
        let resources = resources();
        let exports = |name: &str| (name == "shared-vpc").then(|| json!("vpc-123"));
        let zones = |region: &str| vec![format!("{region}a"), format!("{region}b")];
        let ctx = EvalContext {
            parameters: &params,
            pseudo: &pseudo,
            mappings: &maps,
            conditions: &conditions,
            resources: &resources,
            exports: &exports,
            availability_zones: &zones,
        };
        if base.is_empty() {
            evaluate(&value, &ctx)
        } else {
            evaluate_at(&value, &ctx, base)
        }
    }

    #[test]
    fn evaluate_without_a_base_path() {
        assert_eq!(
            eval_at("!Ref AWS::NoValue", "").expect("novalue"),
            Value::Null
        );
        assert_eq!(eval_at("[!Ref Env]", "").expect("list"), json!(["prod"]));
        let err = eval_at("{A: [!Ref Nope]}", "")
            .expect_err("unknown")
            .to_string();
        assert!(err.starts_with("A[0].Ref: `Nope`"), "{err}");
    }

    /// Evaluates each YAML snippet and compares it with the expected value.
    fn assert_evaluates(cases: &[(&str, Value)]) {
        for (yaml, expected) in cases {
            let got = eval(yaml).unwrap_or_else(|e| panic!("{yaml}: {e}"));
            assert_eq!(&got, expected, "{yaml}");
        }
    }

    /// Plain values, and `Ref` to parameters, resources and pseudo parameters.
    #[test]
    fn refs_resolve_parameters_pseudo_parameters_and_resources() {
        assert_evaluates(&[
            (
                "plain: [1, a, {b: true}]",
                json!({"plain": [1, "a", {"b": true}]}),
            ),
            ("!Ref Env", json!("prod")),
            ("!Ref Subnets", json!(["subnet-1", "subnet-2"])),
            ("!Ref Queue", json!("https://sqs/q")),
            ("!Ref AWS::Region", json!("us-east-1")),
            ("!Ref AWS::AccountId", json!("000000000000")),
            ("!Ref AWS::StackName", json!("demo")),
            (
                "!Ref AWS::StackId",
                json!("arn:aws:cloudformation:us-east-1:000000000000:stack/demo/1"),
            ),
            ("!Ref AWS::Partition", json!("aws")),
            ("!Ref AWS::URLSuffix", json!("amazonaws.com")),
            ("!Ref AWS::NoValue", Value::Null),
        ]);
    }

    /// `Fn::GetAtt` in its string, dotted and list forms.
    #[test]
    fn get_att_reads_attributes() {
        assert_evaluates(&[
            ("!GetAtt Queue.Arn", json!("arn:aws:sqs:us-east-1:0:q")),
            ("!GetAtt Db.Endpoint.Address", json!("db.local")),
            ("!GetAtt [Queue, QueueName]", json!("q")),
            (
                "{'Fn::GetAtt': 'Queue.Arn'}",
                json!("arn:aws:sqs:us-east-1:0:q"),
            ),
        ]);
    }

    /// `Fn::Sub`: pseudo parameters, parameters, resources and attributes, escapes, variable maps.
    #[test]
    fn sub_substitutes_variables() {
        assert_evaluates(&[
            (
                "!Sub 'arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:${Env}'",
                json!("arn:aws:sqs:us-east-1:000000000000:prod"),
            ),
            (
                "!Sub '${Queue}|${Queue.Arn}|${Db.Endpoint.Address}|${ Port }'",
                json!("https://sqs/q|arn:aws:sqs:us-east-1:0:q|db.local|80"),
            ),
            (
                "!Sub 'echo ${!HOME} ${!Env}-${Env}'",
                json!("echo ${HOME} ${Env}-prod"),
            ),
            (
                "!Sub ['${A}-${B}-${Env}', {A: x, B: !Ref Port}]",
                json!("x-80-prod"),
            ),
            (
                "!Sub 'no vars, unterminated ${'",
                json!("no vars, unterminated ${"),
            ),
        ]);
    }

    /// `Fn::Join`, `Fn::Split` and `Fn::Select`.
    #[test]
    fn join_split_and_select_work_on_lists() {
        assert_evaluates(&[
            ("!Join ['-', [a, !Ref Env, 3]]", json!("a-prod-3")),
            ("!Join [',', !Ref Subnets]", json!("subnet-1,subnet-2")),
            ("!Join ['', []]", json!("")),
            ("!Split [',', 'a,b,,c']", json!(["a", "b", "", "c"])),
            ("!Select [1, [a, b, c]]", json!("b")),
            ("!Select ['0', !Ref Subnets]", json!("subnet-1")),
            ("!Select [!Ref Index, !Split [',', 'x,y']]", json!("y")),
        ]);
    }

    /// `Fn::If` evaluates only its branch; `AWS::NoValue` removes keys and elements.
    #[test]
    fn if_and_no_value_choose_and_remove_values() {
        assert_evaluates(&[
            ("!If [IsProd, big, small]", json!("big")),
            ("!If [IsDev, big, small]", json!("small")),
            (
                "{A: !If [IsDev, x, !Ref AWS::NoValue], B: 1}",
                json!({"B": 1}),
            ),
            (
                "[a, !If [IsProd, !Ref AWS::NoValue, b], c]",
                json!(["a", "c"]),
            ),
            (
                "{A: !If [IsProd, !If [IsDev, x, !Ref AWS::NoValue], y]}",
                json!({}),
            ),
            (
                "{A: !If [IsProd, {B: !If [IsDev, 1, !Ref AWS::NoValue], C: 2}, y]}",
                json!({"A": {"C": 2}}),
            ),
            (
                "{A: !Ref AWS::NoValue, B: [!Ref AWS::NoValue]}",
                json!({"B": []}),
            ),
            ("!If [IsDev, !GetAtt Missing.Arn, ok]", json!("ok")),
        ]);
    }

    /// `Fn::Equals`, `Fn::And`, `Fn::Or` and `Fn::Not` outside the Conditions section.
    #[test]
    fn condition_functions_compute_booleans() {
        assert_evaluates(&[
            ("!Equals [!Ref Port, 80]", json!(true)),
            ("!Equals [a, b]", json!(false)),
            ("!And [!Equals [a, a], !Condition IsProd]", json!(true)),
            ("!Or [!Condition IsDev, !Equals [a, b]]", json!(false)),
            ("!Not [!Condition IsDev]", json!(true)),
        ]);
    }

    /// `Fn::FindInMap`, `Fn::GetAZs` and `Fn::ImportValue`.
    #[test]
    fn find_in_map_get_azs_and_import_value_look_up_values() {
        assert_evaluates(&[
            ("!FindInMap [Sizes, !Ref Env, Memory]", json!(512)),
            (
                "!FindInMap [Sizes, test, Memory, {DefaultValue: 64}]",
                json!(64),
            ),
            ("!GetAZs ''", json!(["us-east-1a", "us-east-1b"])),
            (
                "{'Fn::GetAZs': !Ref AWS::Region}",
                json!(["us-east-1a", "us-east-1b"]),
            ),
            ("!GetAZs eu-west-1", json!(["eu-west-1a", "eu-west-1b"])),
            ("!Select [0, !GetAZs '']", json!("us-east-1a")),
            ("!ImportValue shared-vpc", json!("vpc-123")),
        ]);
    }

    /// `Fn::Cidr`.
    #[test]
    fn cidr_divides_blocks() {
        assert_evaluates(&[
            (
                "!Cidr ['10.0.0.0/16', 4, 8]",
                json!(["10.0.0.0/24", "10.0.1.0/24", "10.0.2.0/24", "10.0.3.0/24"]),
            ),
            (
                "!Cidr ['10.0.0.0/24', 2, 5]",
                json!(["10.0.0.0/27", "10.0.0.32/27"]),
            ),
            (
                "!Cidr ['10.1.2.3/16', '2', '12']",
                json!(["10.1.0.0/20", "10.1.16.0/20"]),
            ),
            ("!Cidr ['192.168.0.0/24', 1, 0]", json!(["192.168.0.0/32"])),
        ]);
    }

    /// `Fn::Base64`.
    #[test]
    fn base64_encodes() {
        assert_evaluates(&[
            ("!Base64 hello", json!("aGVsbG8=")),
            ("!Base64 ''", json!("")),
            ("!Base64 'ab'", json!("YWI=")),
            (
                r##"{'Fn::Base64': !Sub "#!/bin/sh\necho ${Env}"}"##,
                json!("IyEvYmluL3NoCmVjaG8gcHJvZA=="),
            ),
        ]);
    }

    #[test]
    fn intrinsic_errors_name_the_problem() {
        let cases: &[(&str, &[&str])] = &[
            (
                "{Name: !Ref Nope}",
                &["Resources.R.Properties.Name.Ref", "`Nope`"],
            ),
            ("!Ref AWS::Bogus", &["`AWS::Bogus`"]),
            ("!Ref Pending", &["`Pending` has not been created"]),
            ("!GetAtt Pending.Arn", &["`Pending` has not been created"]),
            (
                "!GetAtt Queue.Nope",
                &["Fn::GetAtt Queue.Nope", "no attribute Nope"],
            ),
            ("{'Fn::GetAtt': NoDot}", &["LogicalId.Attribute"]),
            ("!Sub '${Nope}'", &["`Nope`"]),
            ("!Sub '${Subnets}'", &["${Subnets}", "list"]),
            ("!Join ['-', a]", &["Fn::Join", "must be a list"]),
            ("!Join ['-', [[a]]]", &["can only join strings"]),
            (
                "!Select [2, [a, b]]",
                &["index 2 is out of range", "2 element"],
            ),
            ("!Select [-1, [a]]", &["non-negative integer"]),
            ("!If [Nope, a, b]", &["condition `Nope`"]),
            ("!If [IsProd, a]", &["Fn::If", "3 arguments"]),
            ("!FindInMap [Nope, a, b]", &["no mapping `Nope`"]),
            (
                "!FindInMap [Sizes, test, Memory]",
                &["mapping `Sizes` has no key `test`"],
            ),
            (
                "!FindInMap [Sizes, prod, Cpu]",
                &["key `prod` has no key `Cpu`"],
            ),
            ("!Cidr ['10.0.0.0/24', 9, 5]", &["Fn::Cidr", "holds only 8"]),
            ("!Cidr ['10.0.0.0/24', 1, 9]", &["cidrBits 9"]),
            ("!Cidr ['fd00::/56', 1, 64]", &["IPv6"]),
            ("!Cidr ['10.0.0.0', 1, 8]", &["not a CIDR block"]),
            ("!ImportValue nope", &["no stack exports `nope`"]),
            (
                "{'Fn::Bogus': 1}",
                &["`Fn::Bogus` is not an intrinsic function"],
            ),
            ("!Transform {Name: x}", &["not supported"]),
            (
                "{A: [1, {'Fn::Join': 1}]}",
                &["Resources.R.Properties.A[1].Fn::Join"],
            ),
            ("!Not [a]", &["expected Fn::Equals"]),
        ];
        for (yaml, needles) in cases {
            let err = eval(yaml).expect_err(yaml).to_string();
            for needle in *needles {
                assert!(err.contains(needle), "{yaml}: `{err}` lacks `{needle}`");
            }
        }
    }

    #[test]
    fn sub_and_import_with_nested_functions() {
        let err = eval("!GetAtt [Db, !Sub 'Endpoint.${Kind}']").expect_err("Kind unknown");
        assert!(err.to_string().contains("`Kind`"), "{err}");
        let joined = eval("!GetAtt [Db, !Join ['.', [Endpoint, Address]]]").expect("joined");
        assert_eq!(joined, json!("db.local"));
        let err = eval("{'Fn::ImportValue': !Sub 'shared-${!x}'}").expect_err("missing");
        assert!(err.to_string().contains("`shared-${x}`"), "{err}");
        let found = eval("{'Fn::ImportValue': !Join ['-', [shared, vpc]]}").expect("found");
        assert_eq!(found, json!("vpc-123"));
    }

    /// Evaluates a Conditions section written in YAML.
    fn conditions(yaml: &str) -> Result<BTreeMap<String, bool>, IntrinsicError> {
        let Value::Object(section) = parse_document(yaml).expect("yaml") else {
            panic!("not a mapping: {yaml}")
        };
        evaluate_conditions(&section, &parameters(), &pseudo(), &mappings())
    }

    #[test]
    fn conditions_evaluate() {
        let cases: &[(&str, &[(&str, bool)])] = &[
            ("IsProd: !Equals [!Ref Env, prod]", &[("IsProd", true)]),
            (
                "InUsEast: !Equals [!Ref 'AWS::Region', us-east-1]",
                &[("InUsEast", true)],
            ),
            (
                "A: !Not [!Condition B]\nB: !Or [!Condition C, !Equals [x, y]]\nC: !And [!Equals [1, '1'], !Not [!Equals [!Ref Env, dev]]]",
                &[("A", false), ("B", true), ("C", true)],
            ),
            (
                "Big: !Equals [!FindInMap [Sizes, !Ref Env, Memory], 512]",
                &[("Big", true)],
            ),
            (
                "Alias: {Condition: Base}\nBase: !Equals [a, a]",
                &[("Alias", true), ("Base", true)],
            ),
        ];
        for (yaml, expected) in cases {
            let got = conditions(yaml).unwrap_or_else(|e| panic!("{yaml}: {e}"));
            let expected: BTreeMap<String, bool> =
                expected.iter().map(|(k, v)| (k.to_string(), *v)).collect();
            assert_eq!(got, expected, "{yaml}");
        }
    }

    #[test]
    fn condition_errors() {
        let cases: &[(&str, &[&str])] = &[
            (
                "A: !Condition B\nB: !Not [!Condition A]",
                &["cycle", "A -> B -> A"],
            ),
            ("A: !Not [!Condition A]", &["A -> A"]),
            (
                "A: !Not [!Condition Nope]",
                &["Conditions.A.Fn::Not[0].Condition", "`Nope`"],
            ),
            (
                "A: !Equals [!Ref Queue, x]",
                &["`Queue` is not a parameter"],
            ),
            (
                "A: !Equals [!Sub x, x]",
                &[
                    "Conditions.A.Fn::Equals[0].Fn::Sub",
                    "cannot be used in Conditions",
                ],
            ),
            ("A: !If [B, x, y]", &["Fn::If cannot be used"]),
            ("A: !Ref Env", &["expected Fn::Equals"]),
            ("A: !And [!Equals [a, a]]", &["Fn::And", "2 to 10"]),
        ];
        for (yaml, needles) in cases {
            let err = conditions(yaml).expect_err(yaml).to_string();
            for needle in *needles {
                assert!(err.contains(needle), "{yaml}: `{err}` lacks `{needle}`");
            }
        }
    }
}
