//! The emulator shared by every world of this process, reference-counted: the first world
//! starts it, the last one to drop stops it.

use std::sync::{Arc, Mutex, Weak};

use super::{
    Backend, Choice, EmulatorError,
    container::{self, ContainerLocalStack},
    host::HostLocalStack,
};
use crate::lambda::{logs::LogStore, service::ExecutorService};

/// A running emulator with the executor service its Lambda plug-in talks to.
#[derive(Debug)]
pub(crate) struct RunningEmulator {
    backend: Backend,
    endpoint: String,
    // Field order is drop order: the emulator stops before the executor it calls.
    process: Mutex<Process>,
    executor: ExecutorService,
}

#[derive(Debug)]
enum Process {
    Host(HostLocalStack),
    // Boxed: the container handle is large and only used on machines with Docker.
    Container(Box<ContainerLocalStack>),
}

static RUNNING: tokio::sync::Mutex<Vec<Weak<RunningEmulator>>> =
    tokio::sync::Mutex::const_new(Vec::new());

/// Joins the running emulator of the chosen backend, or starts one.
pub(crate) async fn acquire(choice: Choice) -> Result<Arc<RunningEmulator>, EmulatorError> {
    let backend = match choice {
        Choice::Explicit(backend) => backend,
        Choice::Automatic if container::docker_engine_answers() => Backend::LocalStackContainer,
        Choice::Automatic => Backend::LocalStackHost,
    };
    let mut running = RUNNING.lock().await;
    running.retain(|weak| weak.strong_count() > 0);
    if let Some(existing) = running
        .iter()
        .filter_map(Weak::upgrade)
        .find(|e| e.backend == backend)
    {
        return Ok(existing);
    }
    let started = match start(backend).await {
        Err(e) if choice == Choice::Automatic && backend == Backend::LocalStackContainer => {
            eprintln!("vpclab: {e}\nvpclab: falling back to LocalStack as a host process");
            start(Backend::LocalStackHost).await?
        }
        other => other?,
    };
    let started = Arc::new(started);
    running.push(Arc::downgrade(&started));
    tokio::spawn(warm_up(started.endpoint.clone()));
    Ok(started)
}

/// Loads the services a deploy needs while the world builds and translates its templates:
/// LocalStack loads each service (and starts DynamoDB Local's JVM) on its first request.
/// Best effort: a failure here shows up, with a clear error, in the deploy itself.
async fn warm_up(endpoint: String) {
    let config = crate::aws::clients::sdk_config(&endpoint, "000000000000", "us-east-1");
    let clients = crate::aws::clients::Clients::new(&config);
    // Lambda keeps function code in the emulator's S3: a plain GET of the root loads it.
    let s3 = reqwest::Client::new().get(format!("{endpoint}/")).send();
    let _ = tokio::join!(
        s3,
        clients.dynamodb.list_tables().send(),
        clients.lambda.list_functions().send(),
        clients.ec2.describe_vpcs().send(),
        clients.sqs.list_queues().send(),
        clients.sns.list_topics().send(),
        clients.iam.list_roles().send(),
    );
    tracing::debug!("vpclab: emulator services loaded");
}

async fn start(backend: Backend) -> Result<RunningEmulator, EmulatorError> {
    let executor = ExecutorService::start(backend == Backend::LocalStackContainer)?;
    let process = match backend {
        Backend::LocalStackHost => {
            Process::Host(HostLocalStack::start(executor.url(), executor.token()).await?)
        }
        Backend::LocalStackContainer => Process::Container(Box::new(
            ContainerLocalStack::start(executor.url(), executor.token()).await?,
        )),
    };
    let endpoint = match &process {
        Process::Host(p) => p.endpoint().to_owned(),
        Process::Container(p) => p.endpoint().to_owned(),
    };
    executor.set_emulator_endpoint(&endpoint);
    Ok(RunningEmulator {
        backend,
        endpoint,
        process: Mutex::new(process),
        executor,
    })
}

impl RunningEmulator {
    /// The backend that runs.
    pub(crate) fn backend(&self) -> Backend {
        self.backend
    }

    /// The AWS endpoint URL.
    pub(crate) fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The Lambda executor service.
    pub(crate) fn executor(&self) -> &ExecutorService {
        &self.executor
    }

    /// The functions' logs.
    pub(crate) fn logs(&self) -> &LogStore {
        self.executor.logs()
    }

    /// A diagnosis when something failed: whether the emulator still runs, its log's end,
    /// and whether its Lambda plug-in was lost.
    pub(crate) fn diagnose(&self) -> String {
        let mut process = self.process.lock().unwrap_or_else(|e| e.into_inner());
        match &mut *process {
            Process::Host(host) => {
                let mut out = String::new();
                if !host.is_running() {
                    out.push_str("LocalStack is no longer running (it died mid-test).\n");
                }
                if host.fell_back_to_docker() {
                    out.push_str(
                        "LocalStack did not load the vpclab Lambda executor and fell back to \
                         Docker; delete the provisioned cache (~/.cache/vpclab/localstack) to \
                         reinstall it.\n",
                    );
                }
                out.push_str("--- LocalStack log (last lines) ---\n");
                out.push_str(&host.log_tail(40));
                out
            }
            Process::Container(_) => "LocalStack runs in a container; see `docker logs`.".into(),
        }
    }

    /// Whether the emulator process still runs.
    pub(crate) fn is_running(&self) -> bool {
        let mut process = self.process.lock().unwrap_or_else(|e| e.into_inner());
        match &mut *process {
            Process::Host(host) => host.is_running(),
            Process::Container(_) => true,
        }
    }
}
