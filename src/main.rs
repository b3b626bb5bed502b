//! `vpclab`: keep a world running to reproduce a bug by hand.
//!
//! `vpclab up <scenario>` starts a world, deploys the scenario, prints its endpoints and a
//! command that sends a message, and tears everything down on Ctrl-C (or `vpclab down`);
//! `vpclab exec <host> -- <command>` runs a command inside one of its hosts.

mod bench;
mod cross_region_bench;
mod domain_bench;
mod edge_bench;
mod fabric_bench;
mod peer_bench;
mod rds_bench;
mod runtimes_bench;
mod suite_bench;
mod up_record;
mod worlds_bench;

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use vpclab_harness::{Backend, Scenario, Settings, World};

#[derive(Debug, Parser)]
#[command(
    name = "vpclab",
    about = "AWS serverless network patterns on one Linux machine"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start a world with a scenario deployed, until Ctrl-C or `vpclab down`.
    Up {
        /// The scenario (a folder of scenarios/).
        scenario: String,
        /// Sets the `Mode` parameter of the scenario's stacks (getmyip: public or private).
        #[arg(long, value_parser = ["public", "private"])]
        mode: Option<String>,
        /// Sets a template parameter of every stack: `--param Key=Value` (repeatable).
        #[arg(long = "param", value_name = "KEY=VALUE")]
        params: Vec<String>,
    },
    /// Stop the world that `vpclab up` keeps running.
    Down,
    /// Run a command inside a host of the world `vpclab up` keeps running (an instance by
    /// logical id or instance id, any host by namespace or ENI id): `vpclab exec TestInstance
    /// -- curl -s https://ifconfig.me/ip`.
    Exec {
        /// The host.
        host: String,
        /// The command and its arguments, after `--`.
        #[arg(last = true, required = true, value_name = "COMMAND")]
        command: Vec<String>,
    },
    /// List the scenarios.
    List,
    /// Provision the embedded LocalStack now (first use does it otherwise); with
    /// `--backend localstack-container`, also build vpclab's LocalStack image.
    Provision {
        /// The backend to provision for (`localstack-host`, `localstack-container`).
        #[arg(long, default_value = "localstack-host", value_parser = parse_backend)]
        backend: Backend,
    },
    /// Measure start, deploy, latency and invoke times (for BENCHMARKS.md).
    Bench {
        /// The scenario to measure.
        #[arg(default_value = "private-serverless")]
        scenario: String,
        /// Only one part: `deploy` (start, deploy, latency, invokes), `fabric`, `edge`,
        /// `cross-region` (seed 003's three stacks, and the call over the peering), `rds`
        /// (seed 001's database start and GET /products), `runtimes` (Python and Node.js
        /// invokes against Rust's), `worlds` (the one-queue test, every scenario's deploy
        /// and teardown), `peer` (the engine against LocalStack's own CloudFormation) or
        /// `suite` (the scenario suite's wall time against the sum of its tests' times).
        #[arg(long, value_parser = ["deploy", "fabric", "edge", "cross-region", "rds", "runtimes", "worlds", "peer", "suite"])]
        only: Option<String>,
        /// The suite's test threads (`suite`; default: libtest's, one per core).
        #[arg(long)]
        test_threads: Option<usize>,
    },
}

/// `--backend`'s value.
fn parse_backend(value: &str) -> Result<Backend, String> {
    Backend::parse(value).map_err(|e| e.to_string())
}

fn scenarios_dir() -> PathBuf {
    Settings::get()
        .scenarios_dir
        .clone()
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("VPCLAB_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Up {
            scenario,
            mode,
            params,
        } => up(&scenario, mode, &params).await,
        Command::Down => down(),
        Command::Exec { host, command } => exec(&host, &command),
        Command::Bench {
            scenario,
            only,
            test_threads,
        } => {
            let all = only.is_none();
            if all || only.as_deref() == Some("deploy") {
                bench::run(&Scenario::load(&scenarios_dir(), &scenario)?).await?;
            }
            if all || only.as_deref() == Some("fabric") {
                fabric_bench::run(&scenarios_dir()).await?;
            }
            if all || only.as_deref() == Some("edge") {
                edge_bench::run().await?;
            }
            if all || only.as_deref() == Some("rds") {
                rds_bench::run(&scenarios_dir()).await?;
            }
            if all || only.as_deref() == Some("runtimes") {
                runtimes_bench::run().await?;
            }
            if all || only.as_deref() == Some("peer") {
                peer_bench::run().await?;
            }
            if all || only.as_deref() == Some("worlds") {
                worlds_bench::run(&scenarios_dir()).await?;
            }
            if all || only.as_deref() == Some("cross-region") {
                let seed_003 = Scenario::load(&scenarios_dir(), "cross-region-private-api")?;
                cross_region_bench::run(&seed_003).await?;
            }
            if all || only.as_deref() == Some("suite") {
                tokio::task::spawn_blocking(move || suite_bench::run(test_threads)).await??;
            }
            Ok(())
        }
        Command::Provision { backend } => {
            vpclab_harness::provision_backend(backend).await?;
            println!("LocalStack is provisioned for {}", backend.name());
            Ok(())
        }
        Command::List => {
            for name in vpclab_harness::known_scenarios(&scenarios_dir()) {
                println!("{name}");
            }
            Ok(())
        }
    }
}

async fn up(name: &str, mode: Option<String>, params: &[String]) -> anyhow::Result<()> {
    let scenario = scenario_with_overrides(name, mode, params)?;
    // Recorded before the world starts, so `down` (SIGINT) can stop a start or a deploy too.
    let record = up_record::UpRecord::create()?;
    eprintln!(
        "vpclab: starting a world for `{name}` ({})",
        scenario.description
    );
    // Ctrl-C during start or deploy still drops the world, so it cleans up.
    let mut world = tokio::select! {
        world = World::start() => world?,
        _ = tokio::signal::ctrl_c() => anyhow::bail!("interrupted while starting the emulator"),
    };
    let deployed = tokio::select! {
        deployed = world.deploy_scenario(&scenario) => deployed,
        _ = tokio::signal::ctrl_c() => anyhow::bail!("interrupted during the deploy; tearing down"),
    };
    if let Err(e) = deployed {
        eprintln!("{}", world.diagnose());
        return Err(e.into());
    }
    print_world(name, &world);
    print_commands(&world);
    print_fabric(&world).await;
    println!("\nCtrl-C (or `vpclab down`) tears the world down.");
    let hosts = up_record::HostsRecord::new();
    tokio::select! {
        stopped = wait_for_stop_signal() => stopped?,
        failed = keep_hosts_recorded(&world, &hosts) => return failed,
    }
    eprintln!("vpclab: tearing down");
    let log = world.function_logs();
    let outcome = world.shutdown().await;
    drop(record);
    if !log.is_empty() {
        eprintln!("{log}");
    }
    outcome.map_err(Into::into)
}

/// The scenario with `--mode` (the `Mode` parameter) and `--param KEY=VALUE` set on every
/// stack.
fn scenario_with_overrides(
    name: &str,
    mode: Option<String>,
    params: &[String],
) -> anyhow::Result<Scenario> {
    let mut scenario = Scenario::load(&scenarios_dir(), name)?;
    let mut overrides = Vec::new();
    if let Some(mode) = mode {
        overrides.push(("Mode".to_owned(), mode.to_uppercase()));
    }
    for param in params {
        let (key, value) = param
            .split_once('=')
            .with_context(|| format!("--param {param}: expected KEY=VALUE"))?;
        overrides.push((key.to_owned(), value.to_owned()));
    }
    for stack in &mut scenario.stacks {
        stack.parameters.extend(overrides.iter().cloned());
    }
    Ok(scenario)
}

/// The world's endpoint, account, region and every stack's outputs.
fn print_world(name: &str, world: &World) {
    println!(
        "world up: scenario {name}, backend {}",
        world.backend().name()
    );
    println!("  endpoint   {}", world.endpoint_url());
    println!("  account    {}", world.account_id());
    println!("  region     {}", world.region());
    for (stack, outputs) in world.outputs() {
        let region = world.stack(&stack).map(|s| s.region().to_owned());
        println!("  stack {stack} ({})", region.unwrap_or_default());
        for (key, value) in outputs {
            println!("    {key:<22} {value}");
        }
    }
}

/// Ready-to-paste commands: send a message to the queue or post it on the custom domain, open
/// the page, make the client function call the API.
fn print_commands(world: &World) {
    let outputs = world.outputs();
    if let Some(queue) = outputs.values().find_map(|o| o.get("QueueUrl").cloned()) {
        let aws = world
            .aws_cli()
            .map_or_else(|| "aws".to_owned(), |p| p.display().to_string());
        println!("\nsend a message:");
        println!(
            "  AWS_ACCESS_KEY_ID={} AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION={} \\\n    \
             {aws} --endpoint-url {} sqs send-message --queue-url {queue} \\\n    \
             --message-body '{{\"Insert\":\"DynamoDB\"}}'",
            world.account_id(),
            world.region(),
            world.endpoint_url()
        );
    }
    if let Some(url) = outputs.values().find_map(|o| o.get("CustomDomainUrl")) {
        println!("\npost a message on the private custom domain, from the test instance:");
        println!(
            "  cargo run -- exec TestInstance -- curl -s -X POST -H 'Content-Type: \
             application/json' -d '{{\"Insert\": \"DynamoDB\"}}' {url}"
        );
    }
    for (name, stack) in &outputs {
        let Some(url) = stack.get("ApiUrl") else {
            continue;
        };
        if let Some(function) = stack.get("ClientFunctionName") {
            print_client_call(world, name, function, url, &outputs);
            continue;
        }
        // The URL resolves inside the fabric only: from the test instance in the VPC (a
        // private API), else from the client on the internet.
        let host = if stack.contains_key("TestInstanceId") {
            "TestInstance"
        } else {
            vpclab_harness::INTERNET_HOST
        };
        println!("\nopen the page:");
        println!("  cargo run -- exec {host} -- curl -s {url}");
    }
}

/// The command that makes a client function (seed 003's, in its own region) call the API.
fn print_client_call(
    world: &World,
    stack: &str,
    function: &str,
    url: &str,
    outputs: &std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>>,
) {
    let region = world.stack(stack).map_or("", |s| s.region());
    let stage = outputs
        .values()
        .find_map(|o| o.get("StageName").cloned())
        .unwrap_or_default();
    let aws = world
        .aws_cli()
        .map_or_else(|| "aws".to_owned(), |p| p.display().to_string());
    println!("\ncall the API from the client function (in {region}):");
    println!(
        "  AWS_ACCESS_KEY_ID={} AWS_SECRET_ACCESS_KEY=test {aws} --endpoint-url {} \\\n    \
         lambda invoke --region {region} --function-name {function} \\\n    \
         --payload '{{\"probe\":\"http_get\",\"url\":\"{url}/{stage}/hello\"}}' /dev/stdout",
        world.account_id(),
        world.endpoint_url()
    );
}

/// The fabric's hosts and namespaces.
async fn print_fabric(world: &World) {
    println!("\nnetwork fabric (enter a namespace with `ip netns exec <name> <command>`):");
    for host in world.fabric().hosts().await {
        println!(
            "  {:<24} {} {} in {} ({})",
            host.netns, host.eni_id, host.address, host.subnet_id, host.role
        );
    }
    println!(
        "  functions outside a VPC run in {}-lambda, the internet is {}-inet",
        world.fabric().prefix(),
        world.fabric().prefix()
    );
}

/// Records the world's hosts for `vpclab exec`, again whenever they change (a function's ENI
/// appears when it first runs); returns only on a failure to write.
async fn keep_hosts_recorded(world: &World, record: &up_record::HostsRecord) -> anyhow::Result<()> {
    let mut recorded = None;
    loop {
        let hosts = world.hosts().await;
        if recorded.as_ref() != Some(&hosts) {
            record.write(&hosts)?;
            recorded = Some(hosts);
        }
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    }
}

/// Runs `command` inside `host` of the running `vpclab up`'s world, with this terminal's
/// input and output, and exits with the command's status (128 + signal when killed).
fn exec(host: &str, command: &[String]) -> anyhow::Result<()> {
    let hosts = up_record::running_hosts()?;
    let found = vpclab_harness::find_host(&hosts, host)?;
    let args: Vec<&str> = command.iter().map(String::as_str).collect();
    let status = found
        .command(&args)
        .status()
        .with_context(|| format!("run `ip netns exec {}`", found.netns))?;
    use std::os::unix::process::ExitStatusExt as _;
    std::process::exit(
        status
            .code()
            .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)),
    );
}

async fn wait_for_stop_signal() -> anyhow::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("install the SIGTERM handler")?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result.context("wait for Ctrl-C"),
        _ = terminate.recv() => Ok(()),
    }
}

fn down() -> anyhow::Result<()> {
    let pid = up_record::stop_up()?;
    println!("asked vpclab up (pid {pid}) to tear its world down");
    Ok(())
}
