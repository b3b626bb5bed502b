//! The network fabric: Linux network namespaces that make the deployed VPC topology behave.
//!
//! After a deploy the fabric reads the topology back from EC2 ([`Topology`]) and realises it:
//! a router namespace per VPC whose policy-routing tables are the VPC's route tables, an ENI
//! namespace per network interface (NAT gateways, interface endpoints, Lambda ENIs, EC2
//! instances, probe hosts) with its security groups as nftables rules, internet gateways that translate
//! between private and public addresses, and a sealed internet holding `ifconfig.me`, the AWS
//! service endpoints (passed to the emulator) and the AWS-managed network where functions
//! outside any VPC run. Nothing is routed to the machine's own network.

pub mod addressing;
mod dns;
mod endpoints;
mod explain;
mod front_door;
mod gateways;
pub mod hosted_zones;
mod hosts;
mod internet;
mod ip_ranges;
mod loopback;
pub mod model;
mod names;
mod netns;
mod nft;
mod pass_through;
mod plan;
mod render;
mod reread;
mod routes;
mod security_group;
mod services;
mod tls;
mod vpc;
mod written;

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    net::{Ipv4Addr, SocketAddr},
    path::PathBuf,
    sync::{Arc, Mutex, RwLock},
    time::Instant,
};

use futures_util::StreamExt as _;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

pub use explain::Explanation;
pub use front_door::{Arrival, Door, DoorStream, FrontDoor, Served};
pub use hosts::HostRequest;
pub use model::Topology;
pub(crate) use pass_through::{HEADER_READ_LIMIT, strip_hop_by_hop, upstream};

use self::{dns::Zones, plan::Plan, tls::FabricCa, vpc::RealisedVpc};
use crate::settings::Settings;

/// Errors of the fabric; each names what to fix.
#[derive(Debug, thiserror::Error)]
pub enum FabricError {
    /// A tool the fabric drives is missing.
    #[error(
        "the network fabric needs {tool}: {reason}; install it (apt-get install iproute2 nftables procps)"
    )]
    Tool {
        /// The tool and where it comes from.
        tool: &'static str,
        /// Why it could not run.
        reason: String,
    },
    /// Not allowed to create network namespaces.
    #[error(
        "the network fabric cannot create network namespaces: {0}. Run the tests as root \
         (e.g. `sudo -E cargo test`); rootless operation through user namespaces is not \
         supported yet"
    )]
    Privileges(String),
    /// A command failed.
    #[error("{what} failed: {stderr}\n--- its input ---\n{input}")]
    Command {
        /// The command.
        what: String,
        /// Its error output.
        stderr: String,
        /// What it was given.
        input: String,
    },
    /// A socket could not be placed in a namespace.
    #[error("cannot use network namespace {netns}: {reason}")]
    Enter {
        /// The namespace.
        netns: String,
        /// Why.
        reason: String,
    },
    /// An EC2 call of the fabric (reading the topology, creating an ENI) failed.
    #[error("EC2 call of the network fabric failed: {call}: {reason}")]
    Describe {
        /// The EC2 call, and the resource it concerned.
        call: String,
        /// The service's error code, when it answered one.
        code: Option<String>,
        /// The whole error.
        reason: String,
    },
    /// The topology cannot be realised as described.
    #[error("{0}")]
    Topology(String),
    /// The fabric's certificate authority failed.
    #[error("the fabric's certificate authority: {0}")]
    Tls(String),
}

/// How many ENIs teardown deletes at once.
const INTERFACE_DELETIONS_AT_ONCE: usize = 8;

/// Where a function's process runs: its namespace and how it reaches the world.
#[derive(Debug, Clone)]
pub struct Placement {
    /// The network namespace (run the process with `ip netns exec <netns>`).
    pub netns: String,
    /// The function's address inside it.
    pub address: Ipv4Addr,
    /// The CA bundle functions trust (`SSL_CERT_FILE`).
    pub ca_bundle: PathBuf,
    /// The world's folder for the functions' own folders (code, `/tmp`), removed with the
    /// fabric, by its watchdog too.
    pub scratch: PathBuf,
    /// The world whose cgroup the function's processes join (the fabric's prefix).
    pub world: String,
    /// Human-readable: "subnet-... (10.0.2.0/24) as eni-... 10.0.2.9" or "AWS-managed network".
    pub description: String,
}

/// A host on an ENI: a probe placed in a subnet, a function's ENI, a NAT gateway, an endpoint.
#[derive(Debug, Clone)]
pub struct Host {
    /// Its network namespace.
    pub netns: String,
    /// The ENI as EC2 knows it.
    pub eni_id: String,
    /// Its VPC.
    pub vpc_id: String,
    /// Its subnet.
    pub subnet_id: String,
    /// Its private address.
    pub address: Ipv4Addr,
    /// Its public address (NAT gateways' Elastic IPs, instances' public IPs).
    pub public_address: Option<Ipv4Addr>,
    /// Its security groups (none for NAT gateways).
    pub group_ids: Vec<String>,
    /// What it is, for people ("NAT gateway nat-…", "AWS Lambda VPC ENI-<function>").
    pub role: String,
    /// What it is, for lookups.
    pub kind: HostKind,
}

/// What a host stands for: the identity the fabric looks hosts up by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostKind {
    /// The ENI of a NAT gateway.
    NatGateway {
        /// `nat-…`
        id: String,
    },
    /// An ENI of an interface endpoint.
    Endpoint {
        /// `vpce-…`
        id: String,
    },
    /// A Lambda ENI, shared by the functions with the same subnet and groups.
    FunctionEni {
        /// The function it was made for first.
        function: String,
    },
    /// An EC2 instance (its primary ENI), as EC2 describes it.
    Instance {
        /// `i-…`
        id: String,
        /// Its `aws:cloudformation:logical-id` tag: the name the template gave it.
        logical_id: Option<String>,
    },
    /// A test instance placed with [`Fabric::add_host`].
    Probe,
    /// A database server's interface (an RDS instance), answering at `name`.
    Database {
        /// The DB instance identifier.
        id: String,
        /// Its endpoint address (`{id}.{hash}.{region}.rds.amazonaws.com`).
        name: String,
    },
}

#[derive(Debug, Default, Clone)]
struct State {
    topology: Topology,
    vpcs: HashMap<String, RealisedVpc>,
    hosts: Vec<Host>,
    links: addressing::LinkAllocator,
    peerings: Vec<String>,
    /// Lambda ENI ids by (subnet, sorted groups): one per combination, as AWS's Hyperplane ENIs.
    function_enis: HashMap<(String, Vec<String>), String>,
    /// Where each function runs, by function name.
    functions: HashMap<String, Placement>,
    /// ENIs the fabric created in EC2 (functions' and hosts'), by region, deleted at
    /// teardown.
    created_interfaces: Vec<(String, String)>,
}

/// One world's fabric. Dropping it deletes every namespace it made and stops its services.
pub struct Fabric {
    prefix: String,
    /// The world's home region.
    region: String,
    /// EC2 of every region the fabric realises, by region.
    regions: RwLock<BTreeMap<String, aws_sdk_ec2::Client>>,
    /// Route 53 (global): the private hosted zones the VPCs' resolvers answer from.
    route53: aws_sdk_route53::Client,
    emulator: SocketAddr,
    /// Where `execute-api` connections go (the edge).
    front_door: Arc<dyn FrontDoor>,
    _dir: tempfile::TempDir,
    /// The fabric's services (DNS, endpoints, ifconfig.me) run on a runtime of their own, so
    /// that neither a busy nor an ended test runtime stalls a function's DNS query.
    runtime: Mutex<Option<tokio::runtime::Runtime>>,
    services: tokio::runtime::Handle,
    ca: Arc<FabricCa>,
    tls: TlsAcceptor,
    zones: Arc<RwLock<Zones>>,
    state: tokio::sync::Mutex<State>,
    namespaces: Mutex<Vec<String>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    syncs: Mutex<Vec<std::time::Duration>>,
    /// Set when the world tears down: no new ENI or host after that.
    closed: std::sync::atomic::AtomicBool,
    /// Set once the sealed internet and the AWS-managed Lambda network exist: made on first
    /// need ([`Fabric::start_internet`]), so a world of queues and tables makes no namespace.
    internet: tokio::sync::OnceCell<()>,
    /// What the fabric's plans last wrote whole (routing tables, firewalls): a sync leaves out
    /// what it would write again.
    written: Mutex<written::Written>,
}

impl std::fmt::Debug for Fabric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fabric")
            .field("prefix", &self.prefix)
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

impl Fabric {
    /// A fabric for the VPCs of `region` (more with [`Fabric::watch_region`]) and the zones of
    /// `route53`, with the service endpoints passing to the emulator at `emulator` and
    /// `execute-api` connections to `front_door`. Its sealed internet and AWS-managed Lambda
    /// network are made on first need: the first sync, function, host or internet client.
    pub(crate) fn start(
        prefix: &str,
        region: &str,
        ec2: aws_sdk_ec2::Client,
        route53: aws_sdk_route53::Client,
        emulator: SocketAddr,
        front_door: Arc<dyn FrontDoor>,
    ) -> Result<Arc<Self>, FabricError> {
        preflight()?;
        let dir = tempfile::Builder::new()
            .prefix("vpclab-fabric-")
            .tempdir()
            .map_err(|e| FabricError::Tls(format!("create a folder for the CA: {e}")))?;
        // Functions run as users of their own and reach their folders (and the CA bundle)
        // through this one: they may cross it, not list it.
        std::fs::set_permissions(
            dir.path(),
            <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o711),
        )
        .map_err(|e| FabricError::Tls(format!("open the fabric's folder to functions: {e}")))?;
        let ca = FabricCa::create(dir.path())?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("vpclab-fabric")
            .enable_all()
            .build()
            .map_err(|e| FabricError::Tls(format!("start the fabric's service runtime: {e}")))?;
        let services = runtime.handle().clone();
        let tls = TlsAcceptor::from(ca.server_config());
        let fabric = Arc::new(Self {
            prefix: prefix.to_owned(),
            region: region.to_owned(),
            regions: RwLock::new(BTreeMap::from([(region.to_owned(), ec2)])),
            route53,
            emulator,
            front_door,
            _dir: dir,
            runtime: Mutex::new(Some(runtime)),
            services,
            ca,
            tls,
            zones: Arc::default(),
            state: tokio::sync::Mutex::default(),
            namespaces: Mutex::default(),
            tasks: Mutex::default(),
            syncs: Mutex::default(),
            closed: std::sync::atomic::AtomicBool::new(false),
            internet: tokio::sync::OnceCell::new(),
            written: Mutex::default(),
        });
        crate::watchdog::watch_namespaces(&fabric.prefix, fabric._dir.path());
        Ok(fabric)
    }

    /// Makes the sealed internet and the AWS-managed Lambda network with their services, once;
    /// later calls return at once. A failed attempt leaves nothing and is tried again next time.
    pub async fn start_internet(&self) -> Result<(), FabricError> {
        self.internet
            .get_or_try_init(|| async {
                let mut plan = Plan::default();
                internet::plan(&mut plan, &self.prefix, &self.region);
                let created = plan.created();
                let started = async {
                    self.apply(plan).await?;
                    let _services = self.services.enter();
                    internet::start_services(self)
                };
                match started.await {
                    Ok(tasks) => {
                        self.keep(tasks);
                        Ok(())
                    }
                    Err(e) => {
                        self.forget(&created);
                        Err(e)
                    }
                }
            })
            .await
            .copied()
    }

    /// Realises the VPCs of `region` too, from the next [`Fabric::sync`] on.
    pub(crate) fn watch_region(&self, region: &str, ec2: aws_sdk_ec2::Client) {
        self.regions
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(region.to_owned(), ec2);
    }

    /// The regions the fabric realises.
    pub fn regions(&self) -> Vec<String> {
        self.clients()
            .into_iter()
            .map(|(region, _)| region)
            .collect()
    }

    fn clients(&self) -> Vec<(String, aws_sdk_ec2::Client)> {
        self.regions
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(region, client)| (region.clone(), client.clone()))
            .collect()
    }

    /// The EC2 client of `region` (the home region's when it is not watched).
    fn ec2(&self, region: &str) -> aws_sdk_ec2::Client {
        let regions = self.regions.read().unwrap_or_else(|e| e.into_inner());
        regions
            .get(region)
            .or_else(|| regions.get(&self.region))
            .cloned()
            .expect("the home region is always watched")
    }

    /// The prefix of every namespace this fabric makes.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The namespaces that exist now for this fabric.
    pub fn namespaces(&self) -> Vec<String> {
        self.namespaces
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The addresses `name` resolves to from inside `vpc_id` (`None`: from the internet), as
    /// the fabric's resolvers answer.
    pub fn resolve(&self, vpc_id: Option<&str>, name: &str) -> Option<Vec<Ipv4Addr>> {
        self.zones
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .resolve(vpc_id, name)
    }

    /// The namespace of a client on the internet (run a command there with
    /// `ip netns exec <netns>`; it resolves names with the public resolver). It exists once
    /// [`Fabric::start_internet`] has run, as every sync and function placement does.
    pub fn internet_client(&self) -> String {
        internet::client_netns(&self.prefix)
    }

    /// The address AWS's pool gives functions outside any VPC in the world's home region.
    pub fn aws_lambda_egress(&self) -> Ipv4Addr {
        addressing::aws_lambda_egress(&self.region)
    }

    /// The CA bundle every fabric TLS service chains to.
    pub fn ca_bundle(&self) -> PathBuf {
        self.ca.bundle().to_path_buf()
    }

    /// The hosts (ENIs) realised so far.
    pub async fn hosts(&self) -> Vec<Host> {
        self.state.lock().await.hosts.clone()
    }

    /// The topology as last read from EC2.
    pub async fn topology(&self) -> Topology {
        self.state.lock().await.topology.clone()
    }

    /// Reads the topology from EC2 and realises what is new (VPCs, subnets, gateways,
    /// endpoints, peerings), then rewrites every subnet's routes from its route table. Returns
    /// how long it took.
    pub async fn sync(&self) -> Result<std::time::Duration, FabricError> {
        self.sync_reading(None).await
    }

    /// [`Fabric::sync`] after a deploy whose stack made or named `touched` (its values): only
    /// the VPCs it created or named are read again, unless that read leaves a named id
    /// unknown, when everything is.
    pub(crate) async fn sync_touched(
        &self,
        touched: &BTreeSet<String>,
    ) -> Result<std::time::Duration, FabricError> {
        self.sync_reading(Some(touched)).await
    }

    async fn sync_reading(
        &self,
        touched: Option<&BTreeSet<String>>,
    ) -> Result<std::time::Duration, FabricError> {
        let started = Instant::now();
        self.start_internet().await?;
        let topology = self.read_topology(touched).await?;
        let read = started.elapsed();
        vpc::validate(&topology)?;
        for subnet in &topology.subnets {
            crate::aws::blocks::remember(&subnet.id, subnet.cidr);
        }
        let mut guard = self.state.lock().await;
        // Planning updates the state as it goes: work on a copy, kept only if it all applies.
        let mut state = guard.clone();
        state.topology = topology.clone();
        let mut plan = Plan::default();
        let mut services = Vec::new();
        let mut planning = vpc::Planning {
            plan: &mut plan,
            state: &mut state,
            topology: &topology,
            prefix: &self.prefix,
            services: &mut services,
        };
        for v in &topology.vpcs {
            vpc::reconcile(&mut planning, v)?;
        }
        routes::plan_routes(&mut plan, &mut state, &topology)?;
        let mut zones = Zones::default();
        endpoints::add_names(
            &mut zones,
            &topology,
            &state.hosts,
            &self.front_door.endpoint_aliases(),
        );
        let created = plan.created();
        if let Err(e) = self.realise(plan, services, &state).await {
            self.forget(&created);
            // Transit links handed out stay used: links made in namespaces that already
            // existed may remain (a retry finds them by name), and must not be given twice.
            guard.links = state.links;
            return Err(e);
        }
        *self.zones.write().unwrap_or_else(|e| e.into_inner()) = zones;
        *guard = state;
        let took = started.elapsed();
        tracing::debug!("vpclab: fabric sync took {took:?}, reading the topology {read:?}");
        self.syncs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(took);
        Ok(took)
    }

    /// The topology as EC2 describes it now: read whole, or (`touched`) only where a deploy
    /// changed it.
    async fn read_topology(
        &self,
        touched: Option<&BTreeSet<String>>,
    ) -> Result<Topology, FabricError> {
        let regions = self.clients();
        if let Some(touched) = touched {
            let previous = self.state.lock().await.topology.clone();
            if let Some(read) =
                reread::read_touched(&previous, &regions, &self.route53, touched).await?
            {
                return Ok(read);
            }
        }
        Topology::read_regions(&regions, &self.route53).await
    }

    /// Applies a sync's plan, starts its services and rewrites every security group.
    async fn realise(
        &self,
        plan: Plan,
        services: Vec<vpc::Service>,
        state: &State,
    ) -> Result<(), FabricError> {
        let started = Instant::now();
        self.apply(plan).await?;
        let applied = started.elapsed();
        let tasks = {
            let _services = self.services.enter();
            vpc::start_services(self, services)?
        };
        self.keep(tasks);
        self.refresh_security_groups(state, state.vpcs.keys().map(String::as_str))
            .await?;
        tracing::debug!(
            "vpclab: fabric realise: plan applied in {applied:?}, groups rewritten in {:?}",
            started.elapsed() - applied
        );
        Ok(())
    }

    /// Where a function runs: its VPC subnet (the first of `subnet_ids`, on an ENI shared by
    /// every function with the same subnet and groups) or, without a VPC configuration, the
    /// AWS-managed network.
    pub(crate) async fn place_function(
        &self,
        function_name: &str,
        region: &str,
        subnet_ids: &[String],
        group_ids: &[String],
    ) -> Result<Placement, FabricError> {
        self.start_internet().await?;
        let mut state = self.state.lock().await;
        let placement = match subnet_ids.first() {
            None => internet::lambda_placement(
                &self.prefix,
                region,
                self.ca.bundle(),
                self.functions_dir(),
            ),
            Some(subnet_id) => {
                let host = self
                    .function_eni(&mut state, function_name, subnet_id, group_ids)
                    .await?;
                Placement {
                    netns: host.netns.clone(),
                    address: host.address,
                    ca_bundle: self.ca.bundle().to_path_buf(),
                    scratch: self.functions_dir(),
                    world: self.prefix.clone(),
                    description: format!(
                        "{} as {} {} (groups {})",
                        host.subnet_id,
                        host.eni_id,
                        host.address,
                        host.group_ids.join(", ")
                    ),
                }
            }
        };
        state
            .functions
            .insert(function_name.to_owned(), placement.clone());
        Ok(placement)
    }

    /// The Lambda ENI of `subnet_id` and `group_ids`, made (for `function_name`) if it is the
    /// first function with them.
    async fn function_eni(
        &self,
        state: &mut State,
        function_name: &str,
        subnet_id: &str,
        group_ids: &[String],
    ) -> Result<Host, FabricError> {
        let mut groups = group_ids.to_vec();
        groups.sort();
        let key = (subnet_id.to_owned(), groups);
        if let Some(eni_id) = state.function_enis.get(&key)
            && let Some(host) = state.hosts.iter().find(|h| &h.eni_id == eni_id)
        {
            return Ok(host.clone());
        }
        let kind = HostKind::FunctionEni {
            function: function_name.to_owned(),
        };
        let role = format!("AWS Lambda VPC ENI-{function_name}");
        let host = self
            .add_host_locked(state, subnet_id, &key.1, &role, kind)
            .await?;
        state.function_enis.insert(key, host.eni_id.clone());
        Ok(host)
    }

    /// Places a database server's interface in `subnet_id` with `group_ids`, its endpoint
    /// `name` resolving to it (from everywhere, as RDS's names do; only routes and security
    /// groups decide who reaches it).
    pub(crate) async fn add_database(
        &self,
        subnet_id: &str,
        group_ids: &[String],
        id: &str,
        name: &str,
    ) -> Result<Host, FabricError> {
        let mut state = self.state.lock().await;
        let kind = HostKind::Database {
            id: id.to_owned(),
            name: name.to_owned(),
        };
        let role = format!("RDS instance {id}");
        let host = self
            .add_host_locked(&mut state, subnet_id, group_ids, &role, kind)
            .await?;
        self.zones
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .add_public(name, vec![host.address]);
        Ok(host)
    }

    /// A certificate (and key) for `name` from the fabric's CA, as PEM.
    pub(crate) fn issue_certificate(&self, name: &str) -> Result<(String, String), FabricError> {
        self.ca.issue_pem(name).map_err(FabricError::Tls)
    }

    /// A folder the fabric removes when it goes (its watchdog too, if the process is killed),
    /// for the files of servers that run in its hosts.
    pub(crate) fn scratch_dir(&self) -> &std::path::Path {
        self._dir.path()
    }

    /// Where the functions' own folders go: under [`Self::scratch_dir`], which functions may
    /// cross (mode 0711) but not list.
    fn functions_dir(&self) -> PathBuf {
        self._dir.path().join("functions")
    }

    /// Serves `greeting` on TCP `port` of `host` until the fabric is dropped.
    pub fn serve_greeting(
        &self,
        host: &Host,
        port: u16,
        greeting: &str,
    ) -> Result<(), FabricError> {
        let _services = self.services.enter();
        let listener = netns::tcp_listener(&host.netns, SocketAddr::from((host.address, port)))?;
        self.keep(vec![services::greeter(listener, Arc::from(greeting))]);
        Ok(())
    }

    /// How long each [`Fabric::sync`] took (reading EC2 and realising), in order.
    pub fn sync_durations(&self) -> Vec<std::time::Duration> {
        self.syncs.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Opens a TCP connection from `host`, as a process on that host would: its packets take
    /// the host's routes and security groups.
    pub async fn connect_from(
        &self,
        host: &Host,
        address: SocketAddr,
    ) -> std::io::Result<tokio::net::TcpStream> {
        connect_in(host.netns.clone(), address).await
    }

    /// Opens a TCP connection from the client on the internet ([`Fabric::internet_client`]).
    pub async fn connect_from_internet(
        &self,
        address: SocketAddr,
    ) -> std::io::Result<tokio::net::TcpStream> {
        self.start_internet().await.map_err(std::io::Error::other)?;
        connect_in(self.internet_client(), address).await
    }

    /// Explains whether `function_name`'s traffic reaches `destination` (a name or address) on
    /// TCP `port`, hop by hop, as VPC Reachability Analyzer would.
    pub async fn explain(
        &self,
        function_name: &str,
        destination: &str,
        port: u16,
    ) -> Result<Explanation, FabricError> {
        let netns = {
            let state = self.state.lock().await;
            let placement = state.functions.get(function_name).ok_or_else(|| {
                FabricError::Topology(format!(
                    "function {function_name} has not run yet: invoke it before asking for its \
                     path"
                ))
            })?;
            placement.netns.clone()
        };
        self.explain_from_netns(&netns, destination, port).await
    }

    /// Explains whether traffic of `host` (a test instance, a probe) reaches `destination`
    /// (a name or address) on TCP `port`, as [`Fabric::explain`] does for a function.
    pub async fn explain_from(
        &self,
        host: &Host,
        destination: &str,
        port: u16,
    ) -> Result<Explanation, FabricError> {
        self.explain_from_netns(&host.netns, destination, port)
            .await
    }

    async fn explain_from_netns(
        &self,
        netns: &str,
        destination: &str,
        port: u16,
    ) -> Result<Explanation, FabricError> {
        let state = self.state.lock().await;
        let source = state.hosts.iter().find(|h| h.netns == netns);
        let view = source.map(|h| h.vpc_id.clone());
        let address = match destination.parse::<Ipv4Addr>() {
            Ok(address) => address,
            Err(_) => self
                .zones
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .resolve(view.as_deref(), destination)
                .and_then(|a| a.first().copied())
                .ok_or_else(|| {
                    FabricError::Topology(format!("{destination} does not resolve in the fabric"))
                })?,
        };
        Ok(explain::explain(
            &state.topology,
            &state.hosts,
            source,
            destination,
            address,
            port,
        ))
    }

    /// Re-renders the security-group rules of every ENI in `vpc_ids` (membership changed), in
    /// one plan: each ENI namespace's table replaced in one transaction.
    async fn refresh_security_groups<'a>(
        &self,
        state: &State,
        vpc_ids: impl IntoIterator<Item = &'a str>,
    ) -> Result<(), FabricError> {
        let mut plan = Plan::default();
        for vpc_id in vpc_ids {
            let Some(realised) = state.vpcs.get(vpc_id) else {
                continue;
            };
            let members = group_members(state, vpc_id);
            for host in state
                .hosts
                .iter()
                .filter(|h| h.vpc_id == vpc_id && !h.group_ids.is_empty())
            {
                let groups: Vec<_> = host
                    .group_ids
                    .iter()
                    .filter_map(|id| state.topology.security_group(id))
                    .collect();
                let table = security_group::firewall(&groups, &members, realised.resolver);
                plan.firewall(&host.netns, table);
            }
        }
        self.apply(plan).await
    }

    /// Applies `plan`, less the rewrites that would write what is there already.
    async fn apply(&self, mut plan: Plan) -> Result<(), FabricError> {
        let created = plan.created();
        self.namespaces
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(created);
        self.written().skip_unchanged(&mut plan);
        let (rewrites, added_to) = (written::Written::of(&plan), written::added_to(&plan));
        let touched: Vec<String> = plan.namespaces.keys().cloned().collect();
        let outcome = plan.apply().await;
        match &outcome {
            Ok(()) => self.written().record(rewrites, &added_to),
            Err(_) => self.written().forget(&touched),
        }
        outcome
    }

    fn written(&self) -> std::sync::MutexGuard<'_, written::Written> {
        self.written.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Deletes namespaces of a plan that failed.
    fn forget(&self, names: &[String]) {
        self.namespaces
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|n| !names.contains(n));
        self.written().forget(names);
        for problem in netns::delete_all(names) {
            tracing::warn!("vpclab: cleaning up a failed fabric change: {problem}");
        }
    }

    fn keep(&self, tasks: Vec<JoinHandle<()>>) {
        self.tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(tasks);
    }

    fn tls(&self) -> TlsAcceptor {
        self.tls.clone()
    }

    /// Deletes the ENIs the fabric created in EC2, each with the client `ec2_of` gives for its
    /// region (a client of the caller's runtime: teardown may run on another one); returns
    /// what could not be deleted.
    pub(crate) async fn delete_interfaces(
        &self,
        ec2_of: impl Fn(&str) -> Option<aws_sdk_ec2::Client>,
    ) -> Vec<String> {
        self.closed.store(true, std::sync::atomic::Ordering::SeqCst);
        let created = std::mem::take(&mut self.state.lock().await.created_interfaces);
        // A few at a time: one call waits on the emulator's round trip, not on its work.
        futures_util::stream::iter(created)
            .map(|(region, eni)| {
                let ec2 = ec2_of(&region);
                async move {
                    let Some(ec2) = ec2 else {
                        return Some(format!(
                            "DeleteNetworkInterface {eni}: no client for {region}"
                        ));
                    };
                    let deleted = ec2
                        .delete_network_interface()
                        .network_interface_id(&eni)
                        .send()
                        .await;
                    deleted.err().map(|e| {
                        format!(
                            "DeleteNetworkInterface {eni}: {}",
                            aws_sdk_ec2::error::DisplayErrorContext(e)
                        )
                    })
                }
            })
            .buffer_unordered(INTERFACE_DELETIONS_AT_ONCE)
            .filter_map(std::future::ready)
            .collect()
            .await
    }

    /// Deletes every namespace and stops every service; returns what could not be removed.
    pub fn teardown(&self) -> Vec<String> {
        for task in self
            .tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            task.abort();
        }
        if let Some(runtime) = self
            .runtime
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            runtime.shutdown_background();
        }
        // Every process of the world (functions, database servers, and whatever they started,
        // in any session) goes before its namespaces.
        crate::cgroup::release(&self.prefix);
        let mut names =
            std::mem::take(&mut *self.namespaces.lock().unwrap_or_else(|e| e.into_inner()));
        for leftover in netns::list(&format!("{}-", self.prefix)) {
            if !names.contains(&leftover) {
                names.push(leftover);
            }
        }
        netns::delete_all(&names)
    }
}

impl Drop for Fabric {
    fn drop(&mut self) {
        for problem in self.teardown() {
            tracing::warn!("vpclab: fabric teardown: {problem}");
        }
    }
}

/// A TCP connection opened inside `netns` (5 s to connect).
async fn connect_in(netns: String, address: SocketAddr) -> std::io::Result<tokio::net::TcpStream> {
    let stream = tokio::task::spawn_blocking(move || {
        netns::inside(&netns, move || {
            let stream =
                std::net::TcpStream::connect_timeout(&address, std::time::Duration::from_secs(5))?;
            stream.set_nonblocking(true)?;
            Ok(stream)
        })
    })
    .await
    .map_err(std::io::Error::other)?
    .map_err(std::io::Error::other)?;
    tokio::net::TcpStream::from_std(stream)
}

/// The subnet `subnet_id` of the deployed topology, or an error listing the known ones.
fn known_subnet(topology: &Topology, subnet_id: &str) -> Result<model::Subnet, FabricError> {
    topology.subnet(subnet_id).cloned().ok_or_else(|| {
        FabricError::Topology(format!(
            "subnet {subnet_id} is not part of the deployed topology (known subnets: {})",
            topology
                .subnets
                .iter()
                .map(|s| format!("{} {}", s.id, s.cidr))
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })
}

/// Each security group's member addresses in `vpc_id`: the fabric's hosts and the ENIs EC2
/// describes.
fn group_members(state: &State, vpc_id: &str) -> BTreeMap<String, Vec<Ipv4Addr>> {
    let mut members: BTreeMap<String, Vec<Ipv4Addr>> = BTreeMap::new();
    for host in state.hosts.iter().filter(|h| h.vpc_id == vpc_id) {
        for group in &host.group_ids {
            members.entry(group.clone()).or_default().push(host.address);
        }
    }
    for interface in &state.topology.interfaces {
        for group in &interface.group_ids {
            let list = members.entry(group.clone()).or_default();
            if !list.contains(&interface.private_ip) {
                list.push(interface.private_ip);
            }
        }
    }
    members
}

/// `groups`, or the VPC's default group when there are none.
fn group_ids_or_default(topology: &Topology, vpc_id: &str, groups: &[String]) -> Vec<String> {
    if !groups.is_empty() {
        return groups.to_vec();
    }
    topology
        .security_groups
        .iter()
        .filter(|g| g.vpc_id == vpc_id && g.name == "default")
        .map(|g| g.id.clone())
        .collect()
}

/// A TCP listener on the loopback of a namespace (a function's Runtime API) that answers one
/// user only.
pub(crate) use loopback::{LoopbackSeal, owned_listener as owned_loopback_listener};

/// The `ip` tool's path (functions start with an empty `PATH`-less environment).
pub(crate) fn ip_tool() -> PathBuf {
    find_tool("ip").unwrap_or_else(|| PathBuf::from("ip"))
}

/// The tool on `PATH`, else in the system folders (`ip` lives in /usr/sbin, often off a
/// user's `PATH`).
fn find_tool(tool: &str) -> Option<PathBuf> {
    Settings::get().which(tool).or_else(|| {
        ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
            .map(PathBuf::from)
            .into_iter()
            .map(|dir| dir.join(tool))
            .find(|candidate| candidate.is_file())
    })
}

/// The namespaces that exist for the fabric with this prefix (see [`Fabric::prefix`]).
pub fn leftover_namespaces(prefix: &str) -> Vec<String> {
    netns::list(&format!("{prefix}-"))
}

fn preflight() -> Result<(), FabricError> {
    for (tool, package) in [
        ("ip", "ip (Debian package iproute2)"),
        ("nft", "nft (Debian package nftables)"),
        ("sysctl", "sysctl (Debian package procps)"),
    ] {
        if find_tool(tool).is_none() {
            return Err(FabricError::Tool {
                tool: package,
                reason: "not found on PATH".into(),
            });
        }
    }
    if !nix::unistd::geteuid().is_root() {
        return Err(FabricError::Privileges(format!(
            "running as uid {}",
            nix::unistd::geteuid()
        )));
    }
    Ok(())
}
