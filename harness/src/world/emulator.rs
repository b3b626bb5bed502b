//! The emulator shared by every world of this process, with the Lambda executor its plug-in
//! calls; reference-counted: the first world starts them. A world's `shutdown` stops them once
//! no other world holds them; a world dropped at the end of a test leaves them running for
//! [`LINGER`], so that the process's next test joins a warm emulator instead of starting one.

use std::{
    sync::{Arc, Mutex, Weak},
    time::{Duration, Instant},
};

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

/// How long the emulator outlives the last world dropped (a test ends, the next one starts a
/// world within moments). If the process ends meanwhile, its watchdog stops the emulator.
pub(crate) const LINGER: Duration = Duration::from_secs(3);

/// The hold on the emulator after a world dropped, and until when it lasts.
static LINGERING: Mutex<Option<(Arc<RunningEmulator>, Instant)>> = Mutex::new(None);

/// Lets go of a world's hold on `emulator`: `at_once` (a world's `shutdown`) stops it if no
/// other world holds it; otherwise it is kept [`LINGER`] longer for the next world to join.
pub(crate) fn release(emulator: Arc<RunningEmulator>, at_once: bool) {
    let mut lingering = LINGERING.lock().unwrap_or_else(|e| e.into_inner());
    if at_once {
        let same = lingering
            .as_ref()
            .is_some_and(|(kept, _)| Arc::ptr_eq(kept, &emulator));
        let kept = if same { lingering.take() } else { None };
        drop(lingering);
        drop((kept, emulator));
        return;
    }
    let replaced = lingering.replace((emulator, Instant::now() + LINGER));
    drop(lingering);
    drop(replaced);
    let reaper = std::thread::Builder::new()
        .name("vpclab-emulator-linger".into())
        .spawn(|| {
            std::thread::sleep(LINGER);
            let mut lingering = LINGERING.lock().unwrap_or_else(|e| e.into_inner());
            let expired = lingering
                .as_ref()
                .is_some_and(|(_, until)| *until <= Instant::now());
            let kept = if expired { lingering.take() } else { None };
            drop(lingering);
            // The emulator stops here unless a world joined it meanwhile.
            drop(kept);
        });
    if let Err(e) = reaper {
        tracing::warn!("vpclab: no thread to keep the emulator for the next world: {e}");
        let kept = LINGERING.lock().unwrap_or_else(|e| e.into_inner()).take();
        drop(kept);
    }
}

/// Joins the running emulator of the chosen backend, or starts one.
pub(crate) async fn acquire(choice: Choice) -> Result<Arc<RunningEmulator>, Error> {
    let mut running = RUNNING.lock().await;
    running.retain(|weak| weak.strong_count() > 0);
    // An automatic choice joins whichever emulator runs: the first world of the process made
    // that choice, and asking the container engine again costs a third of a second.
    if let Some(existing) = running
        .iter()
        .filter_map(Weak::upgrade)
        .filter(|e| e.is_running())
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
