//! One test's world: an account of its own on the shared emulator, the stacks deployed into
//! it, and a teardown that runs on drop, panic included.

pub(crate) mod emulator;
pub(crate) mod exec;
mod explain;
pub(crate) mod scenario;
mod teardown;

use std::{
    collections::BTreeMap,
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    },
    time::Duration,
};

use aws_config::SdkConfig;

use crate::{
    Error,
    aws::clients::{self, Clients},
    deploy::{
        artifacts::ArtifactStore,
        resources::ProviderContext,
        stack::{self, Exports, Stack, StackRequest},
    },
    edge::Edge,
    emulator::{Backend, Choice},
    fabric::Fabric,
    lambda::logs::function_key,
    settings::Settings,
    world::{emulator::RunningEmulator, exec::WorldHost, scenario::Scenario},
};

/// Longest a teardown on drop may take before it gives up (and says so).
const DROP_TEARDOWN_LIMIT: Duration = Duration::from_secs(120);

/// Settings of a world, consumed by [`WorldBuilder::start`].
#[derive(Debug, Clone)]
#[must_use]
pub struct WorldBuilder {
    backend: Option<Backend>,
    region: String,
    keep: bool,
}

impl Default for WorldBuilder {
    fn default() -> Self {
        Self {
            backend: None,
            region: "us-east-1".to_owned(),
            keep: Settings::get().keep,
        }
    }
}

impl WorldBuilder {
    /// Uses this emulator backend (default: `VPCLAB_EMULATOR`, else automatic).
    pub fn with_backend(mut self, backend: Backend) -> Self {
        self.backend = Some(backend);
        self
    }

    /// Deploys into this region (default `us-east-1`).
    pub fn with_region(mut self, region: impl Into<String>) -> Self {
        self.region = region.into();
        self
    }

    /// Keeps the world's resources and the emulator after the world ends, for debugging
    /// (default: `VPCLAB_KEEP=1`).
    pub fn with_keep(mut self, keep: bool) -> Self {
        self.keep = keep;
        self
    }

    /// Starts (or joins) the emulator and opens a fresh account in it.
    pub async fn start(self) -> Result<World, Error> {
        let choice = match self.backend {
            Some(backend) => Choice::Explicit(backend),
            None => Choice::from_settings(Settings::get())?,
        };
        let started = std::time::Instant::now();
        let emulator = emulator::acquire(choice).await?;
        let acquired = started.elapsed();
        let account_id = next_account_id();
        let home = RegionState::new(emulator.endpoint(), &account_id, &self.region);
        let emulator_address = emulator_socket(emulator.endpoint())?;
        let edge = Edge::new(&account_id, emulator_address);
        let fabric = Fabric::start(
            &format!("vl{account_id}"),
            &self.region,
            home.clients.ec2.clone(),
            home.clients.route53.clone(),
            emulator_address,
            edge.clone(),
        )?;
        emulator
            .executor()
            .place_account(&account_id, fabric.clone());
        tracing::debug!(
            "vpclab: world {account_id} up in {:?} ({acquired:?} of it joining the emulator)",
            started.elapsed()
        );
        Ok(World {
            inner: Some(Inner {
                fabric,
                edge,
                account_id,
                regions: BTreeMap::from([(self.region.clone(), home)]),
                region: self.region,
                emulator,
                artifacts: ArtifactStore::default(),
                stacks: Vec::new(),
                keep: self.keep,
                unsynced: false,
            }),
        })
    }
}

/// Resource types that change nothing the fabric or the edge realise: a stack made of these
/// alone is not followed by a fabric sync (which reads EC2 and Route 53).
const NETWORK_NEUTRAL_TYPES: &[&str] = &[
    "AWS::DynamoDB::Table",
    "AWS::IAM::InstanceProfile",
    "AWS::IAM::ManagedPolicy",
    "AWS::IAM::Policy",
    "AWS::IAM::Role",
    "AWS::Lambda::EventSourceMapping",
    "AWS::Lambda::Permission",
    "AWS::SecretsManager::Secret",
    "AWS::SNS::Subscription",
    "AWS::SNS::Topic",
    "AWS::SNS::TopicPolicy",
    "AWS::SQS::Queue",
    "AWS::SQS::QueuePolicy",
    "AWS::SSM::Parameter",
];

/// A world: an account on a running emulator, and what was deployed into it.
///
/// Dropping it deletes its stacks in reverse order and stops its functions' processes; when it
/// was the last world of the process, the emulator stops a few seconds later unless another
/// world joins it (at once if the test panicked). [`World::shutdown`] does the same, stops the
/// emulator at once, and reports errors. A change made to EC2 outside a deploy reaches the
/// fabric with [`Fabric::sync`](crate::Fabric::sync): a deploy reads again only what it touched.
#[derive(Debug)]
pub struct World {
    inner: Option<Inner>,
}

#[derive(Debug)]
struct Inner {
    account_id: String,
    /// The home region: where stacks go that name none.
    region: String,
    /// Every region the world has deployed into, the home region first opened.
    regions: BTreeMap<String, RegionState>,
    emulator: Arc<RunningEmulator>,
    fabric: Arc<Fabric>,
    edge: Arc<Edge>,
    artifacts: ArtifactStore,
    stacks: Vec<Stack>,
    keep: bool,
    /// A stack's fabric sync failed: the next deploy syncs, whatever it creates.
    unsynced: bool,
}

/// One region of a world: its SDK configuration and clients, and its stacks' exports
/// (exports are regional, as in CloudFormation).
#[derive(Debug)]
struct RegionState {
    sdk_config: SdkConfig,
    clients: Clients,
    exports: Exports,
}

impl RegionState {
    fn new(endpoint: &str, account_id: &str, region: &str) -> Self {
        let sdk_config = clients::sdk_config(endpoint, account_id, region);
        Self {
            clients: Clients::new(&sdk_config),
            sdk_config,
            exports: Exports::default(),
        }
    }

    /// The same region with fresh clients (for a runtime of its own).
    fn refreshed(self) -> Self {
        Self {
            clients: Clients::new(&self.sdk_config),
            ..self
        }
    }
}

impl Inner {
    /// The region `region`, opened (and watched by the fabric) on first use.
    fn open_region(&mut self, region: &str) -> &RegionState {
        if !self.regions.contains_key(region) {
            let state = RegionState::new(self.emulator.endpoint(), &self.account_id, region);
            self.fabric.watch_region(region, state.clients.ec2.clone());
            self.regions.insert(region.to_owned(), state);
        }
        &self.regions[region]
    }
}

/// The emulator's socket address, from its endpoint URL (`http://127.0.0.1:4566`).
fn emulator_socket(endpoint: &str) -> Result<std::net::SocketAddr, crate::fabric::FabricError> {
    let authority = endpoint
        .split_once("://")
        .map_or(endpoint, |(_, rest)| rest)
        .trim_end_matches('/');
    std::net::ToSocketAddrs::to_socket_addrs(authority)
        .ok()
        .and_then(|mut addresses| addresses.find(std::net::SocketAddr::is_ipv4))
        .ok_or_else(|| {
            crate::fabric::FabricError::Topology(format!(
                "the emulator endpoint {endpoint} is not an address the fabric can reach"
            ))
        })
}

/// A 12-digit account id unique to this process and world.
fn next_account_id() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{:06}{:06}", std::process::id() % 1_000_000, n % 1_000_000)
}

impl World {
    /// Settings for a world.
    pub fn builder() -> WorldBuilder {
        WorldBuilder::default()
    }

    /// A world with default settings.
    pub async fn start() -> Result<Self, Error> {
        Self::builder().start().await
    }

    fn inner(&self) -> &Inner {
        // `inner` is only taken by `shutdown(self)` and `drop`.
        self.inner.as_ref().expect("world used after shutdown")
    }

    /// The world's account id.
    pub fn account_id(&self) -> &str {
        &self.inner().account_id
    }

    /// The world's region.
    pub fn region(&self) -> &str {
        &self.inner().region
    }

    /// The emulator's endpoint URL.
    pub fn endpoint_url(&self) -> &str {
        self.inner().emulator.endpoint()
    }

    /// The emulator backend that runs this world.
    pub fn backend(&self) -> Backend {
        self.inner().emulator.backend()
    }

    /// The AWS CLI of the provisioned LocalStack environment, if there is one (handy for
    /// commands printed to a user; any AWS CLI works).
    pub fn aws_cli(&self) -> Option<std::path::PathBuf> {
        crate::emulator::provisioned_aws_cli()
    }

    /// An SDK configuration for this world's account in its home region: build any
    /// `aws-sdk-*` client from it.
    pub fn sdk_config(&self) -> &SdkConfig {
        &self.inner().regions[&self.inner().region].sdk_config
    }

    /// An SDK configuration for this world's account in `region`.
    pub fn sdk_config_in(&self, region: &str) -> SdkConfig {
        let inner = self.inner();
        clients::sdk_config(inner.emulator.endpoint(), &inner.account_id, region)
    }

    /// The regions the world has deployed into (its home region included).
    pub fn regions(&self) -> Vec<String> {
        self.inner().regions.keys().cloned().collect()
    }

    /// Deploys a template as a stack; on failure nothing of it is left.
    pub async fn deploy(&mut self, request: StackRequest) -> Result<&Stack, Error> {
        let inner = self.inner.as_mut().expect("world used after shutdown");
        let region = request
            .region
            .clone()
            .unwrap_or_else(|| inner.region.clone());
        inner.open_region(&region);
        let state = &inner.regions[&region];
        let ctx = ProviderContext {
            clients: &state.clients,
            emulator: inner.emulator.emulator(),
            executor: inner.emulator.executor(),
            artifacts: &inner.artifacts,
            stack_name: &request.name,
            edge: &inner.edge,
            account_id: &inner.account_id,
            fabric: &inner.fabric,
        };
        let stack =
            stack::create_stack(&ctx, &request, &inner.account_id, &region, &state.exports).await?;
        let changes_network = stack
            .resource_types()
            .any(|t| !NETWORK_NEUTRAL_TYPES.contains(&t));
        let touched = stack.touched_values();
        inner.stacks.push(stack);
        if changes_network || inner.unsynced {
            // A failed sync is retried by the next deploy, whatever it creates, reading
            // everything: what the failed one missed is not among this stack's values.
            let took = if inner.unsynced {
                inner.fabric.sync().await?
            } else {
                inner.unsynced = true;
                inner.fabric.sync_touched(&touched).await?
            };
            inner.unsynced = false;
            tracing::debug!("vpclab: fabric realised the topology in {took:?}");
            for problem in inner.edge.observe(&inner.fabric.topology().await) {
                tracing::warn!("vpclab: the edge denies every call through {problem}");
            }
        }
        Ok(inner.stacks.last().expect("just pushed"))
    }

    /// Deploys a template file with parameters.
    pub async fn deploy_template(
        &mut self,
        stack_name: &str,
        template: impl AsRef<Path>,
        parameters: &[(&str, &str)],
    ) -> Result<&Stack, Error> {
        self.deploy(StackRequest {
            name: stack_name.to_owned(),
            template: template.as_ref().to_path_buf(),
            parameters: parameters
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            region: None,
        })
        .await
    }

    /// Deploys every stack of a scenario, in order.
    pub async fn deploy_scenario(&mut self, scenario: &Scenario) -> Result<(), Error> {
        for stack in &scenario.stacks {
            self.deploy_scenario_stack(scenario, &stack.name).await?;
        }
        Ok(())
    }

    /// Deploys one stack of a scenario, in its region, its `${stack.OutputKey}` parameters
    /// taken from the stacks deployed so far.
    pub async fn deploy_scenario_stack(
        &mut self,
        scenario: &Scenario,
        name: &str,
    ) -> Result<&Stack, Error> {
        let stack = scenario.stack(name)?;
        let parameters = scenario.parameters_of(stack, &self.outputs())?;
        self.deploy(StackRequest {
            name: stack.name.clone(),
            template: scenario.dir().join(&stack.template),
            parameters,
            region: stack.region.clone(),
        })
        .await
    }

    /// A deployed stack by name.
    pub fn stack(&self, name: &str) -> Option<&Stack> {
        self.inner().stacks.iter().find(|s| s.name() == name)
    }

    /// Every deployed stack's outputs, by stack.
    pub fn outputs(&self) -> BTreeMap<String, BTreeMap<String, String>> {
        self.inner()
            .stacks
            .iter()
            .map(|s| (s.name().to_owned(), s.outputs().clone()))
            .collect()
    }

    /// The log of one function of this world, in whichever region it runs (its output,
    /// START/END/REPORT lines).
    pub fn function_log(&self, function_name: &str) -> String {
        let inner = self.inner();
        inner
            .regions
            .keys()
            .map(|region| {
                inner
                    .emulator
                    .logs()
                    .get(&function_key(&inner.account_id, region, function_name))
            })
            .find(|log| !log.is_empty())
            .unwrap_or_default()
    }

    /// The logs of every function of this world, each under a heading.
    pub fn function_logs(&self) -> String {
        let inner = self.inner();
        inner
            .emulator
            .logs()
            .all_under(&format!("{}/", inner.account_id))
    }

    /// A diagnosis for a failing test: the world's function logs and the emulator's state.
    pub fn diagnose(&self) -> String {
        format!(
            "{}\n{}",
            self.function_logs(),
            self.inner().emulator.diagnose()
        )
    }

    /// The world's front doors: why they refused calls to an API.
    pub fn edge(&self) -> &Edge {
        &self.inner().edge
    }

    /// The hosts a command can run in ([`World::exec`]): instances by logical id (else
    /// instance id), every other host of the fabric by its namespace, and `internet`, a client
    /// on the internet side.
    pub async fn hosts(&self) -> Vec<WorldHost> {
        let fabric = &self.inner().fabric;
        if let Err(e) = fabric.start_internet().await {
            tracing::warn!("vpclab: the internet client is not there: {e}");
        }
        let bundle = fabric.ca_bundle();
        let mut hosts: Vec<WorldHost> = fabric
            .hosts()
            .await
            .iter()
            .map(|h| WorldHost::of(h, &bundle))
            .collect();
        hosts.push(WorldHost::internet(fabric.internet_client(), &bundle));
        hosts
    }

    /// Runs `command` inside `host` (an instance's logical id or instance id, or any host's
    /// namespace or ENI id), as a process on that host: its network namespace, the VPC's DNS,
    /// the fabric's CA trusted. Bounded by [`exec::EXEC_LIMIT`]; an unknown host is an error
    /// listing the known ones.
    pub async fn exec(&self, host: &str, command: &[&str]) -> Result<std::process::Output, Error> {
        let hosts = self.hosts().await;
        let found = exec::find_host(&hosts, host)?;
        Ok(exec::run(found, command, exec::EXEC_LIMIT).await?)
    }

    /// The world's network fabric: its hosts, topology, and path explanations.
    pub fn fabric(&self) -> &Fabric {
        &self.inner().fabric
    }

    /// How many Lambda environments (bootstrap processes) of all worlds run now.
    pub fn running_function_environments(&self) -> usize {
        self.inner().emulator.executor().environment_count()
    }

    /// Tears the world down now and reports what could not be removed; the emulator stops
    /// too unless another world holds it. (A world dropped instead leaves the emulator
    /// running a few seconds for the process's next world.)
    pub async fn shutdown(mut self) -> Result<(), Error> {
        match self.inner.take() {
            Some(inner) => teardown::teardown(inner, true).await,
            None => Ok(()),
        }
    }
}

impl Drop for World {
    fn drop(&mut self) {
        let Some(inner) = self.inner.take() else {
            return;
        };
        // A panicking test stops the emulator with its world (nothing of it outlives the
        // panic); a test that ends well leaves it for the next world (see `emulator::LINGER`).
        let stop_emulator = std::thread::panicking();
        if stop_emulator {
            let account = format!("{}/", inner.account_id);
            eprintln!(
                "vpclab: the test panicked; logs of world {}:\n{}\n{}",
                inner.account_id,
                inner.emulator.logs().all_under(&account),
                inner.emulator.diagnose()
            );
        }
        // The test's runtime may be the one being dropped: tear down on a thread of our own.
        let worker = std::thread::spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(e) => {
                    eprintln!("vpclab: teardown could not start a runtime: {e}");
                    return;
                }
            };
            // Fresh clients: the world's may hold connections of the test's runtime.
            let mut inner = inner;
            inner.regions = std::mem::take(&mut inner.regions)
                .into_iter()
                .map(|(region, state)| (region, state.refreshed()))
                .collect();
            let outcome = runtime.block_on(async {
                tokio::time::timeout(
                    DROP_TEARDOWN_LIMIT,
                    teardown::teardown(inner, stop_emulator),
                )
                .await
            });
            match outcome {
                Ok(Ok(())) => {}
                Ok(Err(e)) => eprintln!("vpclab: teardown: {e}"),
                Err(_) => eprintln!(
                    "vpclab: teardown did not finish within {DROP_TEARDOWN_LIMIT:?}; some \
                     resources of the world may remain in the emulator"
                ),
            }
        });
        if worker.join().is_err() {
            eprintln!("vpclab: the teardown thread panicked");
        }
    }
}
