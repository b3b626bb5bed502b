//! A stack's life: create in dependency order (rolling back on failure), outputs and exports,
//! delete in reverse order. Each resource starts as soon as what it waits for is done.

use std::{
    collections::{BTreeMap, BTreeSet, VecDeque},
    path::{Path, PathBuf},
    sync::Mutex,
};

use futures_util::{StreamExt, stream::FuturesUnordered};
use serde_json::Value;

use super::{
    DeployError, MissingOutput, dynamic_refs,
    graph::{self, AttributeReads, DependencyMap},
    intrinsics::{self, EvalContext, Pseudo, ResourceLookup},
    parameters,
    preflight::{self, DeclaredSubnet, PreflightLookup},
    resources::{self, Created, ProviderContext},
    sam,
    schedule::{self, Schedule},
    stack_links,
    template::{ResourceSpec, Template},
};
use crate::aws::error::CallError;

/// How many of a stack's resources are created (or deleted) at once. The emulator serves
/// requests one interpreter at a time, so more in flight do not make one deploy faster; they
/// queue every other world's calls behind them (a stack of 20 VPCs started about 250 at once,
/// and a function of another test, calling the emulator meanwhile, ran past its 5 s timeout).
const OPERATIONS_AT_ONCE: usize = 16;

/// What to deploy: a stack name, a template file and its parameter values.
#[derive(Debug, Clone)]
pub struct StackRequest {
    /// The stack's name.
    pub name: String,
    /// The template file (YAML or JSON, SAM or plain CloudFormation).
    pub template: PathBuf,
    /// Parameter values by name; missing ones take the template's defaults.
    pub parameters: BTreeMap<String, String>,
    /// The region to deploy into; `None` is the world's home region.
    pub region: Option<String>,
}

/// A deployed stack.
#[derive(Debug, Clone)]
pub struct Stack {
    name: String,
    id: String,
    region: String,
    outputs: BTreeMap<String, String>,
    exports: Vec<String>,
    /// Created resources in creation order.
    created: Vec<(String, Created)>,
    /// Each resource's dependencies, which deletion waits for.
    dependencies: DependencyMap,
    /// The values the stack took in: its parameters' and the exports it imported.
    inputs: BTreeSet<String>,
    /// The values its resources were created with (their properties, resolved).
    given: BTreeSet<String>,
}

impl Stack {
    /// The stack's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The stack's ARN.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The region the stack was deployed into.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// Every output, by key.
    pub fn outputs(&self) -> &BTreeMap<String, String> {
        &self.outputs
    }

    /// One output; the error lists the outputs the stack has.
    pub fn output(&self, key: &str) -> Result<&str, MissingOutput> {
        self.outputs
            .get(key)
            .map(String::as_str)
            .ok_or_else(|| MissingOutput {
                stack: self.name.clone(),
                key: key.to_owned(),
                available: self.outputs.keys().cloned().collect::<Vec<_>>().join(", "),
            })
    }

    /// The types of the resources the stack created.
    pub(crate) fn resource_types(&self) -> impl Iterator<Item = &str> {
        self.created.iter().map(|(_, c)| c.resource_type.as_str())
    }

    /// The physical id (`Ref`) of a resource by logical id.
    pub fn physical_id(&self, logical_id: &str) -> Option<&str> {
        self.created
            .iter()
            .find(|(id, _)| id == logical_id)
            .map(|(_, c)| c.physical_id.as_str())
    }

    /// The values the stack took in: its parameters' and the exports it imported.
    pub(crate) fn inputs(&self) -> &BTreeSet<String> {
        &self.inputs
    }

    /// The values the stack made: its outputs and its resources' physical ids and attributes.
    pub(crate) fn made_values(&self) -> BTreeSet<String> {
        let mut made = BTreeSet::new();
        for output in self.outputs.values() {
            stack_links::collect_values(&Value::String(output.clone()), &mut made);
        }
        for (_, resource) in &self.created {
            made.insert(resource.physical_id.clone());
            resource
                .attributes
                .values()
                .for_each(|v| stack_links::collect_values(v, &mut made));
        }
        made
    }

    /// Every value the stack's resources were created with or made: the ids of whatever
    /// they touched are among them.
    pub(crate) fn touched_values(&self) -> BTreeSet<String> {
        let mut values = self.made_values();
        values.extend(self.given.iter().cloned());
        values
    }
}

/// The exports of one region of a world, shared by its stacks there (exports are regional).
pub(crate) type Exports = Mutex<BTreeMap<String, Value>>;

struct CreatedLookup<'a> {
    created: &'a BTreeMap<String, Created>,
    declared: &'a BTreeMap<String, ResourceSpec>,
}

impl ResourceLookup for CreatedLookup<'_> {
    fn physical_id(&self, logical_id: &str) -> Option<Value> {
        self.created
            .get(logical_id)
            .map(|c| Value::String(c.physical_id.clone()))
    }

    fn attribute(&self, logical_id: &str, attribute: &str) -> Result<Value, String> {
        let created = self
            .created
            .get(logical_id)
            .ok_or_else(|| format!("{logical_id} has not been created"))?;
        created.attributes.get(attribute).cloned().ok_or_else(|| {
            format!(
                "{} has no attribute {attribute} (it has: {})",
                created.resource_type,
                created
                    .attributes
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
    }

    fn is_declared(&self, logical_id: &str) -> bool {
        self.declared.contains_key(logical_id)
    }
}

/// What intrinsic functions read while a stack is created. The evaluation context it builds
/// borrows trait objects that are not `Send`, so it lives only inside [`StackScope::evaluate`],
/// never across an await.
struct StackScope<'a> {
    template: &'a Template,
    parameters: &'a BTreeMap<String, Value>,
    pseudo: &'a Pseudo,
    conditions: &'a BTreeMap<String, bool>,
    exports: &'a Exports,
    /// The availability zones of the stack's region, as the emulator lists them.
    zones: &'a [String],
    /// The values of the exports imported so far.
    imported: Mutex<BTreeSet<String>>,
}

impl StackScope<'_> {
    /// Evaluates `value` against what is created so far; `at` names its place in errors.
    fn evaluate(
        &self,
        created: &BTreeMap<String, Created>,
        value: &Value,
        at: &str,
    ) -> Result<Value, intrinsics::IntrinsicError> {
        let lookup = CreatedLookup {
            created,
            declared: &self.template.resources,
        };
        self.evaluate_with(&lookup, value, at)
    }

    /// Evaluates `value` against the given resources.
    fn evaluate_with(
        &self,
        lookup: &dyn ResourceLookup,
        value: &Value,
        at: &str,
    ) -> Result<Value, intrinsics::IntrinsicError> {
        let zones = |region: &str| {
            if region == self.pseudo.region && !self.zones.is_empty() {
                self.zones.to_vec()
            } else {
                availability_zones(region)
            }
        };
        let exported = |name: &str| {
            let value = self
                .exports
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(name)
                .cloned()?;
            let mut imported = self.imported.lock().unwrap_or_else(|e| e.into_inner());
            stack_links::collect_values(&value, &mut imported);
            Some(value)
        };
        let eval = EvalContext {
            parameters: self.parameters,
            pseudo: self.pseudo,
            mappings: &self.template.mappings,
            conditions: self.conditions,
            resources: lookup,
            exports: &exported,
            availability_zones: &zones,
        };
        intrinsics::evaluate_at(value, &eval, at)
    }
}

/// Whether `key` is a key of any object inside `value`.
fn mentions_key(value: &Value, key: &str) -> bool {
    match value {
        Value::Object(map) => map.contains_key(key) || map.values().any(|v| mentions_key(v, key)),
        Value::Array(items) => items.iter().any(|v| mentions_key(v, key)),
        _ => false,
    }
}

/// Availability zones of a region as AWS names them, for regions the emulator was not asked
/// about.
fn availability_zones(region: &str) -> Vec<String> {
    ["a", "b", "c"]
        .iter()
        .map(|z| format!("{region}{z}"))
        .collect()
}

/// The region's availability zones as the emulator's EC2 lists them (what `Fn::GetAZs`
/// returns in AWS); empty, with a warning, if it cannot tell.
async fn region_zones(ctx: &ProviderContext<'_>, region: &str) -> Vec<String> {
    let described = ctx.clients.ec2.describe_availability_zones().send().await;
    match described {
        Ok(zones) => zones
            .availability_zones()
            .iter()
            .filter(|z| z.zone_type().is_none_or(|t| t == "availability-zone"))
            .filter_map(|z| z.zone_name().map(str::to_owned))
            .collect(),
        Err(e) => {
            tracing::warn!(
                "vpclab: Fn::GetAZs falls back to {region}a..c: {}",
                resources::ProviderError::sdk("DescribeAvailabilityZones", e)
            );
            Vec::new()
        }
    }
}

/// Checks the template's subnets before anything is created (see [`preflight`]); values that
/// depend on created resources are left to the providers.
fn preflight_network(
    scope: &StackScope<'_>,
    enabled: &dyn Fn(&ResourceSpec) -> bool,
) -> Option<preflight::Problem> {
    let of_type = |wanted: &'static str| {
        scope
            .template
            .resources
            .iter()
            .filter(move |(_, spec)| spec.resource_type == wanted && enabled(spec))
    };
    let no_blocks = BTreeMap::new();
    let bare = PreflightLookup {
        vpc_blocks: &no_blocks,
    };
    let property = |lookup: &dyn ResourceLookup, id: &str, spec: &ResourceSpec, key: &str| {
        let value = spec.properties.get(key)?;
        let at = format!("Resources.{id}.Properties.{key}");
        match scope.evaluate_with(lookup, value, &at).ok()? {
            Value::String(s) => Some(s),
            _ => None,
        }
    };
    let vpc_blocks: BTreeMap<String, String> = of_type("AWS::EC2::VPC")
        .filter_map(|(id, spec)| Some((id.clone(), property(&bare, id, spec, "CidrBlock")?)))
        .collect();
    let lookup = PreflightLookup {
        vpc_blocks: &vpc_blocks,
    };
    let subnets: Vec<DeclaredSubnet> = of_type("AWS::EC2::Subnet")
        .filter_map(|(id, spec)| {
            Some(DeclaredSubnet {
                logical_id: id.clone(),
                vpc: property(&lookup, id, spec, "VpcId")?,
                cidr: property(&lookup, id, spec, "CidrBlock")?,
            })
        })
        .collect();
    preflight::check_subnets(&vpc_blocks, &subnets)
        .into_iter()
        .next()
}

/// Creates a stack. On failure, what was created is deleted again and the error names the
/// failing resource, its type and the reason.
pub(crate) async fn create_stack(
    ctx: &ProviderContext<'_>,
    request: &StackRequest,
    account_id: &str,
    region: &str,
    exports: &Exports,
) -> Result<Stack, DeployError> {
    check_stack_name(&request.name).map_err(|e| *e)?;
    tracing::debug!(stack = %request.name, "deploy {}", request.template.display());
    let template_name = request.template.display().to_string();
    let pseudo = stack_pseudo(&request.name, account_id, region);
    let template = load_template(ctx, request, &pseudo, &template_name).await?;
    let ssm = ssm_values(ctx, &template, &request.parameters, &template_name).await?;
    // Validate everything before changing anything.
    let plan = plan_stack(
        &template,
        &request.parameters,
        &ssm,
        &pseudo,
        &template_name,
    )
    .map_err(|e| *e)?;
    check_ec2_parameters(ctx, &template, &plan.parameters, &template_name).await?;
    check_database_servers(&template, &plan, &template_name).map_err(|e| *e)?;
    // Only `Fn::GetAZs` asks EC2: a stack without it never waits for EC2 to load.
    let zones = if mentions_key(&template.document, "Fn::GetAZs") {
        region_zones(ctx, region).await
    } else {
        Vec::new()
    };
    let scope = StackScope {
        template: &template,
        parameters: &plan.parameters,
        pseudo: &pseudo,
        conditions: &plan.conditions,
        exports,
        zones: &zones,
        imported: Mutex::default(),
    };
    if let Some(problem) = preflight_network(&scope, &|spec| plan.enabled(spec)) {
        return Err(DeployError::Resource {
            template: template_name,
            logical_id: problem.logical_id,
            resource_type: "AWS::EC2::Subnet".to_owned(),
            reason: format!("{}; nothing was created", problem.reason),
        });
    }
    tracing::debug!(stack = %request.name, "create resources");
    let names = StackNames {
        stack: &request.name,
        template: &template_name,
    };
    let mut created = create_resources(ctx, &scope, &plan, names).await?;
    let (outputs, export_names) = match publish_outputs(&scope, &created.by_id, names) {
        Ok(published) => published,
        Err(e) => {
            // The stack never came to be: remove what it created, as a failed resource would.
            let created = created.into_ordered();
            for problem in delete_resources(ctx, &created, &plan.dependencies).await {
                tracing::warn!(
                    "vpclab: rollback after an output error: {}",
                    problem.message
                );
            }
            return Err(*e);
        }
    };
    let inputs = stack_inputs(scope.imported, &plan.parameters);
    Ok(Stack {
        name: request.name.clone(),
        id: pseudo.stack_id,
        region: region.to_owned(),
        outputs,
        exports: export_names,
        given: std::mem::take(&mut created.given),
        created: created.into_ordered(),
        dependencies: plan.dependencies,
        inputs,
    })
}

/// The values a stack took in: the exports it imported and its parameters' values.
fn stack_inputs(
    imported: Mutex<BTreeSet<String>>,
    parameters: &BTreeMap<String, Value>,
) -> BTreeSet<String> {
    let mut inputs = imported.into_inner().unwrap_or_else(|e| e.into_inner());
    parameters
        .values()
        .for_each(|v| stack_links::collect_values(v, &mut inputs));
    inputs
}

/// The names a stack's errors carry.
#[derive(Debug, Clone, Copy)]
struct StackNames<'a> {
    /// The stack's name.
    stack: &'a str,
    /// The template's path, as displayed.
    template: &'a str,
}

/// Refuses a stack name AWS would refuse: a letter, then letters, digits and hyphens, at most
/// 128 characters.
fn check_stack_name(name: &str) -> Result<(), Box<DeployError>> {
    let valid = name.len() <= 128
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if valid {
        Ok(())
    } else {
        Err(Box::new(DeployError::StackName {
            name: name.to_owned(),
        }))
    }
}

/// The pseudo parameters of a new stack, with a fresh stack id.
fn stack_pseudo(stack_name: &str, account_id: &str, region: &str) -> Pseudo {
    Pseudo {
        account_id: account_id.to_owned(),
        region: region.to_owned(),
        stack_name: stack_name.to_owned(),
        stack_id: format!(
            "arn:aws:cloudformation:{region}:{account_id}:stack/{stack_name}/vpclab-{}",
            resources::generated_name("", "", 13).trim_start_matches('-')
        ),
        partition: "aws".to_owned(),
        url_suffix: "amazonaws.com".to_owned(),
    }
}

/// Reads and validates the template; a SAM template has its functions built and packaged and
/// goes through the SAM transform, so what comes back is plain CloudFormation.
async fn load_template(
    ctx: &ProviderContext<'_>,
    request: &StackRequest,
    pseudo: &Pseudo,
    template_name: &str,
) -> Result<Template, DeployError> {
    let text = std::fs::read_to_string(&request.template).map_err(|source| DeployError::Read {
        template: template_name.to_owned(),
        source,
    })?;
    let template_error = |source| DeployError::Template {
        template: template_name.to_owned(),
        source: Box::new(source),
    };
    let mut document = super::template::parse_document(&text).map_err(template_error)?;
    // Validate the structure before anything is built or created.
    let template = Template::from_document(document.clone()).map_err(template_error)?;
    if !template.is_sam() {
        return Ok(template);
    }
    let template_dir = request.template.parent().unwrap_or(Path::new("."));
    tracing::debug!(stack = %request.name, "build functions");
    sam::package_functions(
        &mut document,
        template_dir,
        ctx.artifacts,
        &request.template,
    )
    .await?;
    tracing::debug!(stack = %request.name, "SAM transform");
    document = sam::transform(document, &request.parameters, pseudo, &request.template).await?;
    Template::from_document(document).map_err(template_error)
}

/// The values, by SSM name, of the SSM parameters that the template's
/// `AWS::SSM::Parameter::Value<...>` parameters name, read from the emulator's SSM (which
/// serves AWS's public parameters, `/aws/service/ami-amazon-linux-latest/...` among them). A
/// name SSM does not know is left out: resolving the parameters then names it.
/// Refuses a template with DB instances when no PostgreSQL server can run them, before
/// anything is created.
fn check_database_servers(
    template: &Template,
    plan: &StackPlan,
    template_name: &str,
) -> Result<(), Box<DeployError>> {
    let Some((logical_id, _)) = template
        .resources
        .iter()
        .find(|(_, spec)| spec.resource_type == "AWS::RDS::DBInstance" && plan.enabled(spec))
    else {
        return Ok(());
    };
    resources::check_database_binaries().map_err(|reason| {
        Box::new(DeployError::Resource {
            template: template_name.to_owned(),
            logical_id: logical_id.clone(),
            resource_type: "AWS::RDS::DBInstance".to_owned(),
            reason: format!("{reason}; nothing was created"),
        })
    })
}

/// Refuses EC2 id parameters whose ids EC2 does not describe, as CloudFormation does.
async fn check_ec2_parameters(
    ctx: &ProviderContext<'_>,
    template: &Template,
    resolved: &BTreeMap<String, Value>,
    template_name: &str,
) -> Result<(), DeployError> {
    for (name, kind, id) in parameters::ec2_ids(&template.parameters, resolved) {
        let ec2 = &ctx.clients.ec2;
        let found = match kind {
            "AWS::EC2::VPC::Id" => ec2
                .describe_vpcs()
                .vpc_ids(&id)
                .send()
                .await
                .map(|o| !o.vpcs().is_empty())
                .map_err(|e| CallError::new(&format!("DescribeVpcs {id}"), e)),
            "AWS::EC2::Subnet::Id" => ec2
                .describe_subnets()
                .subnet_ids(&id)
                .send()
                .await
                .map(|o| !o.subnets().is_empty())
                .map_err(|e| CallError::new(&format!("DescribeSubnets {id}"), e)),
            _ => ec2
                .describe_security_groups()
                .group_ids(&id)
                .send()
                .await
                .map(|o| !o.security_groups().is_empty())
                .map_err(|e| CallError::new(&format!("DescribeSecurityGroups {id}"), e)),
        };
        let exists = match found {
            Ok(exists) => exists,
            Err(e) if e.is_not_found() => false,
            Err(e) => {
                return Err(DeployError::Parameters {
                    template: template_name.to_owned(),
                    source: Box::new(parameters::ParameterError::Ec2Lookup {
                        name,
                        id,
                        reason: e.to_string(),
                    }),
                });
            }
        };
        if !exists {
            return Err(DeployError::Parameters {
                template: template_name.to_owned(),
                source: Box::new(parameters::ParameterError::Ec2Missing {
                    name,
                    kind: kind.to_owned(),
                    id,
                }),
            });
        }
    }
    Ok(())
}

async fn ssm_values(
    ctx: &ProviderContext<'_>,
    template: &Template,
    given: &BTreeMap<String, String>,
    template_name: &str,
) -> Result<BTreeMap<String, String>, DeployError> {
    let mut values = BTreeMap::new();
    for (name, ssm_name) in parameters::ssm_names(&template.parameters, given) {
        if values.contains_key(&ssm_name) {
            continue;
        }
        let read = ctx.clients.ssm.get_parameter().name(&ssm_name).send().await;
        match read.map_err(|e| CallError::new(&format!("GetParameter {ssm_name}"), e)) {
            Ok(answer) => {
                if let Some(value) = answer.parameter().and_then(|p| p.value()) {
                    values.insert(ssm_name, value.to_owned());
                }
            }
            Err(e) if e.is_not_found() => {}
            Err(e) => {
                return Err(DeployError::Parameters {
                    template: template_name.to_owned(),
                    source: Box::new(parameters::ParameterError::SsmLookup {
                        name,
                        ssm_name,
                        reason: e.to_string(),
                    }),
                });
            }
        }
    }
    Ok(values)
}

/// What a template resolves to before anything is created.
struct StackPlan {
    /// Parameter values, as `Ref` returns them.
    parameters: BTreeMap<String, Value>,
    /// The Conditions section, evaluated.
    conditions: BTreeMap<String, bool>,
    /// Every resource, in an order that respects dependencies.
    order: Vec<String>,
    /// Each resource's dependencies.
    dependencies: DependencyMap,
    /// The attributes the template reads of each resource.
    attribute_reads: BTreeMap<String, AttributeReads>,
}

impl StackPlan {
    /// Whether a resource is created: it has no Condition, or its Condition holds.
    fn enabled(&self, spec: &ResourceSpec) -> bool {
        spec.condition
            .as_ref()
            .is_none_or(|c| self.conditions.get(c).copied().unwrap_or(false))
    }
}

/// Resolves parameters and conditions, orders the resources and refuses types the engine
/// cannot create, all before anything is created. (Errors are boxed, as a stack error is large.)
fn plan_stack(
    template: &Template,
    given: &BTreeMap<String, String>,
    ssm: &BTreeMap<String, String>,
    pseudo: &Pseudo,
    template_name: &str,
) -> Result<StackPlan, Box<DeployError>> {
    let lookup = |name: &str| ssm.get(name).cloned();
    let parameters = parameters::resolve_parameters(&template.parameters, given, &lookup)
        .map_err(|source| DeployError::Parameters {
            template: template_name.to_owned(),
            source: Box::new(source),
        })
        .map_err(Box::new)?;
    let conditions = intrinsics::evaluate_conditions(
        &template.conditions,
        &parameters,
        pseudo,
        &template.mappings,
    )
    .map_err(|source| {
        Box::new(DeployError::Intrinsic {
            template: template_name.to_owned(),
            source: Box::new(source),
        })
    })?;
    let parameter_names: BTreeSet<String> = parameters.keys().cloned().collect();
    let (order, dependencies) = graph::dependency_order(&template.resources, &parameter_names)
        .map_err(|source| {
            Box::new(DeployError::Graph {
                template: template_name.to_owned(),
                source: Box::new(source),
            })
        })?;
    let plan = StackPlan {
        parameters,
        conditions,
        order,
        dependencies,
        attribute_reads: graph::attributes_read(&template.document),
    };
    check_supported(template, &plan, template_name)?;
    Ok(plan)
}

/// Refuses the template if a resource it would create has a type the engine cannot create.
fn check_supported(
    template: &Template,
    plan: &StackPlan,
    template_name: &str,
) -> Result<(), Box<DeployError>> {
    let unsupported: Vec<String> = template
        .resources
        .iter()
        .filter(|(_, spec)| plan.enabled(spec))
        .filter(|(_, spec)| !resources::SUPPORTED_TYPES.contains(&spec.resource_type.as_str()))
        .map(|(id, spec)| format!("{id} ({})", spec.resource_type))
        .collect();
    if unsupported.is_empty() {
        return Ok(());
    }
    Err(Box::new(DeployError::UnsupportedTypes {
        template: template_name.to_owned(),
        resources: unsupported.join(", "),
        supported: resources::SUPPORTED_TYPES.join(", "),
    }))
}

/// Resources created so far, by logical id, and the order they were created in.
#[derive(Default)]
struct CreatedResources {
    /// What each provider returned, by logical id.
    by_id: BTreeMap<String, Created>,
    /// Logical ids in creation order.
    order: Vec<String>,
    /// The values of their properties, resolved.
    given: BTreeSet<String>,
}

impl CreatedResources {
    /// Records a created resource.
    fn insert(&mut self, logical_id: String, created: Created) {
        self.by_id.insert(logical_id.clone(), created);
        self.order.push(logical_id);
    }

    /// The resources in creation order.
    fn into_ordered(mut self) -> Vec<(String, Created)> {
        self.order
            .into_iter()
            .filter_map(|id| self.by_id.remove(&id).map(|c| (id, c)))
            .collect()
    }
}

/// A resource ready to be created.
struct Job {
    /// Its logical id.
    logical_id: String,
    /// Its type.
    resource_type: String,
    /// Its evaluated properties.
    properties: Value,
    /// The attributes its template reads of it.
    reads: AttributeReads,
}

/// The resource that failed the stack, and why.
struct Failure {
    /// Its logical id.
    logical_id: String,
    /// Its type.
    resource_type: String,
    /// What went wrong.
    reason: String,
}

/// Creates the enabled resources, each as soon as its own dependencies exist (as
/// CloudFormation does). On the first failure nothing more starts; once what was under way
/// ends, what was created is deleted again and the error names the failing resource.
async fn create_resources(
    ctx: &ProviderContext<'_>,
    scope: &StackScope<'_>,
    plan: &StackPlan,
    names: StackNames<'_>,
) -> Result<CreatedResources, DeployError> {
    let mut created = CreatedResources::default();
    let mut schedule = Schedule::new(&plan.order, &plan.dependencies);
    let mut running = FuturesUnordered::new();
    let mut queued = VecDeque::new();
    let mut failure = None;
    loop {
        if failure.is_none() {
            match ready_jobs(scope, plan, &mut schedule, &created) {
                Ok(jobs) => queued.extend(jobs),
                Err(first) => failure = Some(first),
            }
            while running.len() < OPERATIONS_AT_ONCE
                && let Some(job) = queued.pop_front()
            {
                running.push(create_job(ctx, names.stack, job));
            }
        }
        let Some((job, outcome)) = running.next().await else {
            break;
        };
        match outcome {
            Ok(resource) => {
                schedule.settle(&job.logical_id);
                stack_links::collect_values(&job.properties, &mut created.given);
                created.insert(job.logical_id, resource);
            }
            Err(reason) => record_failure(&mut failure, job, reason),
        }
    }
    let Some(failure) = failure else {
        return Ok(created);
    };
    let ordered = created.into_ordered();
    let rollback_errors = delete_resources(ctx, &ordered, &plan.dependencies).await;
    Err(DeployError::ResourceFailed {
        stack: names.stack.to_owned(),
        template: names.template.to_owned(),
        logical_id: failure.logical_id,
        resource_type: failure.resource_type,
        reason: failure.reason,
        rolled_back: ordered.len(),
        rollback_errors: rollback_errors
            .into_iter()
            .map(|f| f.message)
            .collect::<Vec<_>>()
            .join("\n"),
    })
}

/// Takes every resource whose dependencies are done and evaluates its properties; a disabled
/// resource (its Condition false) is done at once. The first that cannot be evaluated fails.
fn ready_jobs(
    scope: &StackScope<'_>,
    plan: &StackPlan,
    schedule: &mut Schedule,
    created: &CreatedResources,
) -> Result<Vec<Job>, Failure> {
    let mut jobs = Vec::new();
    loop {
        let ready = schedule.take_ready();
        if ready.is_empty() {
            return Ok(jobs);
        }
        for logical_id in ready {
            let spec = &scope.template.resources[&logical_id];
            if !plan.enabled(spec) {
                schedule.settle(&logical_id);
                continue;
            }
            let at = format!("Resources.{logical_id}.Properties");
            let resource_type = spec.resource_type.clone();
            match scope.evaluate(&created.by_id, &spec.properties, &at) {
                Ok(properties) => jobs.push(Job {
                    reads: plan
                        .attribute_reads
                        .get(&logical_id)
                        .cloned()
                        .unwrap_or(AttributeReads::Named(BTreeSet::new())),
                    logical_id,
                    resource_type,
                    properties,
                }),
                Err(e) => {
                    return Err(Failure {
                        logical_id,
                        resource_type,
                        reason: e.to_string(),
                    });
                }
            }
        }
    }
}

/// Creates one resource; hands the job back with the outcome.
async fn create_job(
    ctx: &ProviderContext<'_>,
    stack: &str,
    mut job: Job,
) -> (Job, Result<Created, String>) {
    let (logical_id, resource_type) = (&job.logical_id, &job.resource_type);
    tracing::debug!(%stack, %logical_id, "create {resource_type}");
    let outcome = match dynamic_refs::resolve(ctx, &job.properties).await {
        Ok(properties) => {
            let outcome =
                resources::create(ctx, logical_id, resource_type, &properties, &job.reads)
                    .await
                    .map_err(|e| e.to_string());
            job.properties = properties;
            outcome
        }
        Err(e) => Err(e.to_string()),
    };
    tracing::debug!(%stack, %logical_id, ok = outcome.is_ok(), "created {resource_type}");
    (job, outcome)
}

/// Keeps the first failure; later ones are logged.
fn record_failure(failure: &mut Option<Failure>, job: Job, reason: String) {
    if failure.is_some() {
        tracing::warn!(
            "vpclab: {} ({}) failed too: {reason}",
            job.logical_id,
            job.resource_type
        );
        return;
    }
    *failure = Some(Failure {
        logical_id: job.logical_id,
        resource_type: job.resource_type,
        reason,
    });
}

/// A stack's outputs by key, and the names it exported.
type Published = (BTreeMap<String, String>, Vec<String>);

/// Evaluates the outputs and registers the exports; an error names the output.
fn publish_outputs(
    scope: &StackScope<'_>,
    created: &BTreeMap<String, Created>,
    names: StackNames<'_>,
) -> Result<Published, Box<DeployError>> {
    let intrinsic_error = |source| DeployError::Intrinsic {
        template: names.template.to_owned(),
        source: Box::new(source),
    };
    let mut outputs = BTreeMap::new();
    let mut new_exports = BTreeMap::new();
    for (key, output) in &scope.template.outputs {
        if output
            .condition
            .as_ref()
            .is_some_and(|c| !scope.conditions.get(c).copied().unwrap_or(false))
        {
            continue;
        }
        let value = scope
            .evaluate(created, &output.value, &format!("Outputs.{key}.Value"))
            .map_err(|e| Box::new(intrinsic_error(e)))?;
        let text = match &value {
            Value::String(s) => s.clone(),
            Value::Array(items) => items
                .iter()
                .map(|i| {
                    i.as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| i.to_string())
                })
                .collect::<Vec<_>>()
                .join(","),
            other => other.to_string(),
        };
        if let Some(name) = &output.export_name {
            let name = scope
                .evaluate(created, name, &format!("Outputs.{key}.Export.Name"))
                .map_err(|e| Box::new(intrinsic_error(e)))?;
            new_exports.insert(name.as_str().unwrap_or_default().to_owned(), value.clone());
        }
        outputs.insert(key.clone(), text);
    }
    let mut all_exports = scope.exports.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(taken) = new_exports.keys().find(|k| all_exports.contains_key(*k)) {
        return Err(Box::new(DeployError::DuplicateExport {
            stack: names.stack.to_owned(),
            export: taken.clone(),
        }));
    }
    let export_names = new_exports.keys().cloned().collect();
    all_exports.extend(new_exports);
    Ok((outputs, export_names))
}

/// Deletes a stack's resources in reverse creation order and withdraws its exports. Best
/// effort: every failure is returned, naming the resource, and deletion goes on. What could
/// not be deleted stays in `stack`, so a second call tries again only those.
pub(crate) async fn delete_stack(
    ctx: &ProviderContext<'_>,
    stack: &mut Stack,
    exports: &Exports,
) -> Vec<String> {
    {
        let mut all = exports.lock().unwrap_or_else(|e| e.into_inner());
        for name in &stack.exports {
            all.remove(name);
        }
    }
    let failed = delete_resources(ctx, &stack.created, &stack.dependencies).await;
    let kept: BTreeSet<&str> = failed.iter().map(|f| f.logical_id.as_str()).collect();
    stack.created.retain(|(id, _)| kept.contains(id.as_str()));
    failed.into_iter().map(|f| f.message).collect()
}

/// A resource a deletion could not remove, and why.
struct Undeleted {
    logical_id: String,
    /// The resource, its type and the reason.
    message: String,
}

/// Deletes resources, each once the resources that depend on it are gone (deletions that
/// wait for nothing run together). A resource already gone is a warning; every other failure
/// is returned, naming the resource, and deletion goes on.
async fn delete_resources(
    ctx: &ProviderContext<'_>,
    created: &[(String, Created)],
    dependencies: &DependencyMap,
) -> Vec<Undeleted> {
    let order: Vec<String> = created.iter().rev().map(|(id, _)| id.clone()).collect();
    let by_id: BTreeMap<&str, &Created> = created.iter().map(|(id, c)| (id.as_str(), c)).collect();
    let schedule = Schedule::new(&order, &schedule::dependents_among(dependencies, &order));
    let parents = resources::parents_among(created.iter().map(|(_, c)| c));
    let ended = schedule
        .run_all(OPERATIONS_AT_ONCE, |id| {
            let created = by_id[id];
            let with_parent = resources::goes_with_parent(created, &parents);
            async move {
                if with_parent {
                    return Ok(());
                }
                resources::delete(ctx, created).await
            }
        })
        .await;
    let mut errors = Vec::new();
    for (logical_id, outcome) in ended {
        match outcome {
            Ok(()) => {}
            // Decided by the service's error code, never by the message.
            Err(e) if e.is_not_found() => {
                tracing::warn!("vpclab: {logical_id} was already gone: {e}");
            }
            Err(e) => errors.push(Undeleted {
                message: format!(
                    "{logical_id} ({}): {e}",
                    by_id[logical_id.as_str()].resource_type
                ),
                logical_id,
            }),
        }
    }
    errors
}

#[cfg(test)]
impl Stack {
    /// A stack that took in `inputs` and outputs `outputs`, for tests of which stack uses which.
    pub(crate) fn linked(name: &str, inputs: &[&str], outputs: &[(&str, &str)]) -> Self {
        Self {
            name: name.to_owned(),
            id: format!("arn:aws:cloudformation:us-east-1:000000000000:stack/{name}/1"),
            region: "us-east-1".to_owned(),
            outputs: outputs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            exports: Vec::new(),
            created: Vec::new(),
            dependencies: DependencyMap::default(),
            inputs: inputs.iter().map(|s| (*s).to_owned()).collect(),
            given: BTreeSet::new(),
        }
    }
}
