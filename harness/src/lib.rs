//! vpclab's harness: one test's world on one Linux machine.
//!
//! A [`World`] starts (or joins) an AWS emulator, deploys CloudFormation/SAM templates with
//! vpclab's own engine, runs Rust Lambdas as real processes behind the Lambda Runtime API, and
//! tears everything down when dropped, on panic too.
//!
//! Layers, top first; each names only its own and those below it (checked by a unit test):
//!
//! | module | what it holds |
//! |---|---|
//! | `world` | one test's world: account, the shared emulator and executor, stacks, teardown |
//! | `deploy` | the CloudFormation engine: templates, intrinsics, SAM transform, providers |
//! | `edge` | the execute-api front doors: resource and endpoint policies, evaluated as AWS does |
//! | `lambda` | the executor: builds functions, runs `bootstrap`, serves the Runtime API |
//! | `fabric` | the network fabric: namespaces, routing, security groups, DNS, services |
//! | `emulator` | the backends behind one trait: LocalStack as a host process or in a container |
//! | `aws`, `settings`, `watchdog` | the shared bottom: SDK clients and errors, addresses, settings |
//!
//! Settings come from the environment, read once: see [`Settings`] (`VPCLAB_EMULATOR`,
//! `VPCLAB_CACHE_DIR`, `VPCLAB_PYTHON`, `VPCLAB_KEEP=1`, `LOCALSTACK_AUTH_TOKEN`,
//! `VPCLAB_LOCALSTACK_IMAGE`, ...).
//!
//! ```no_run
//! # async fn example() -> Result<(), vpclab_harness::Error> {
//! let mut world = vpclab_harness::World::start().await?;
//! let stack = world
//!     .deploy_template("demo", "scenarios/private-serverless/template.yaml", &[])
//!     .await?;
//! println!("queue: {}", stack.output("QueueUrl")?);
//! # Ok(()) }
//! ```

pub(crate) mod aws;
pub(crate) mod cgroup;
pub(crate) mod deploy;
pub(crate) mod edge;
pub(crate) mod emulator;
pub mod fabric;
pub(crate) mod lambda;
#[cfg(test)]
mod layering;
mod settings;
pub(crate) mod watchdog;
pub(crate) mod world;

pub use deploy::{
    DeployError, GraphError, IntrinsicError, ParameterError, TemplateError,
    stack::{Stack, StackRequest},
};
pub use edge::Edge;
pub use emulator::{Backend, EmulatorError};
pub use fabric::{Explanation, Fabric, FabricError, Host, HostKind, HostRequest};
pub use lambda::LambdaError;
pub use settings::Settings;
pub use watchdog::remove_records_when_gone;
pub use world::{
    World, WorldBuilder,
    exec::{EXEC_LIMIT, ExecError, INTERNET as INTERNET_HOST, WorldHost, find_host},
    scenario::{Scenario, ScenarioError, known as known_scenarios},
};

/// Any error of the harness.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The emulator could not be provisioned or started.
    #[error(transparent)]
    Emulator(#[from] EmulatorError),
    /// A deploy failed.
    #[error(transparent)]
    Deploy(#[from] DeployError),
    /// The Lambda executor could not start.
    #[error(transparent)]
    Lambda(#[from] LambdaError),
    /// The network fabric could not be built.
    #[error(transparent)]
    Fabric(#[from] FabricError),
    /// A scenario could not be loaded.
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    /// A command could not run inside a host of the world.
    #[error(transparent)]
    Exec(#[from] ExecError),
    /// Teardown left resources behind.
    #[error("teardown could not remove everything:\n{errors}")]
    Teardown {
        /// One line per resource.
        errors: String,
    },
}

/// How long each RDS instance this process created took from `CreateDBInstance` to accepting
/// connections (`account/region/instance`, time), oldest first: for benchmarks.
pub fn database_start_times() -> Vec<(String, std::time::Duration)> {
    deploy::resources::database_start_times()
}

/// Provisions the embedded LocalStack (host backend) if it is not in the cache yet: what the
/// first world would otherwise do, with its progress on standard error.
pub async fn provision() -> Result<(), Error> {
    provision_backend(Backend::LocalStackHost).await
}

/// Provisions what `backend` needs now (first use does it otherwise): the host environment, and
/// for the container backend also vpclab's LocalStack image (built if the engine lacks it).
pub async fn provision_backend(backend: Backend) -> Result<(), Error> {
    tokio::task::spawn_blocking(emulator::host::provision::ensure_provisioned)
        .await
        .map_err(|e| {
            Error::Emulator(EmulatorError::Provision {
                step: "provisioning task".into(),
                output: e.to_string(),
            })
        })??;
    if backend == Backend::LocalStackContainer {
        emulator::container::provision_image().await?;
    }
    Ok(())
}
