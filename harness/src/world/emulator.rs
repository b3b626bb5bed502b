//! The emulator shared by every world of this process, with the Lambda executor its plug-in
//! calls; reference-counted: the first world starts them, the last one to drop stops them.

use std::sync::{Arc, Weak};

use crate::{
    Error,
    emulator::{self, Backend, Choice, Emulator, ExecutorRegistration},
    lambda::{logs::LogStore, service::ExecutorService},
};

/// A running emulator with the executor service its Lambda plug-in talks to.
#[derive(Debug)]
pub(crate) struct RunningEmulator {
    // Field order is drop order: the emulator stops before the executor it calls.
    emulator: Box<dyn Emulator>,
    executor: ExecutorService,
}

static RUNNING: tokio::sync::Mutex<Vec<Weak<RunningEmulator>>> =
    tokio::sync::Mutex::const_new(Vec::new());

/// Joins the running emulator of the chosen backend, or starts one.
pub(crate) async fn acquire(choice: Choice) -> Result<Arc<RunningEmulator>, Error> {
    let mut running = RUNNING.lock().await;
    running.retain(|weak| weak.strong_count() > 0);
    // An automatic choice joins whichever emulator runs: the first world of the process made
    // that choice, and asking the container engine again costs a third of a second.
    if let Some(existing) = running
        .iter()
        .filter_map(Weak::upgrade)
        .find(|e| match choice {
            Choice::Explicit(backend) => e.emulator.backend() == backend,
            Choice::Automatic => true,
        })
    {
        return Ok(existing);
    }
    let backend = choice.first_backend();
    let started = match start(backend).await {
        Err(e) if choice == Choice::Automatic && backend == Backend::LocalStackContainer => {
            eprintln!("vpclab: {e}\nvpclab: falling back to LocalStack as a host process");
            start(Backend::LocalStackHost).await?
        }
        other => other?,
    };
    let started = Arc::new(started);
    running.push(Arc::downgrade(&started));
    // On a thread of its own: a test's runtime, ending with the test, would cut it short.
    let endpoint = started.endpoint().to_owned();
    let warm = std::thread::Builder::new()
        .name("vpclab-warm-up".into())
        .spawn(move || {
            match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime.block_on(emulator::warm_up(endpoint)),
                Err(e) => tracing::warn!("vpclab: no runtime for the emulator's warm-up: {e}"),
            }
        });
    if let Err(e) = warm {
        tracing::warn!("vpclab: no thread for the emulator's warm-up: {e}");
    }
    Ok(started)
}

/// Starts the executor service, then the backend's emulator registered with it.
async fn start(backend: Backend) -> Result<RunningEmulator, Error> {
    let executor = ExecutorService::start(backend.executor_bind_address())?;
    let registration = ExecutorRegistration {
        url: executor.url().to_owned(),
        token: executor.token().to_owned(),
    };
    let emulator = backend.start(&registration).await?;
    Ok(RunningEmulator { emulator, executor })
}

impl RunningEmulator {
    /// The emulator.
    pub(crate) fn emulator(&self) -> &dyn Emulator {
        self.emulator.as_ref()
    }

    /// The backend that runs.
    pub(crate) fn backend(&self) -> Backend {
        self.emulator.backend()
    }

    /// The AWS endpoint URL.
    pub(crate) fn endpoint(&self) -> &str {
        self.emulator.endpoint()
    }

    /// The Lambda executor service.
    pub(crate) fn executor(&self) -> &ExecutorService {
        &self.executor
    }

    /// The functions' logs.
    pub(crate) fn logs(&self) -> &LogStore {
        self.executor.logs()
    }

    /// A diagnosis when something failed (see [`Emulator::diagnose`]).
    pub(crate) fn diagnose(&self) -> String {
        self.emulator.diagnose()
    }

    /// Whether the emulator still runs.
    pub(crate) fn is_running(&self) -> bool {
        self.emulator.is_running()
    }
}
