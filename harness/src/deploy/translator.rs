//! The SAM translator kept warm: one `aws-sam-translator` process serves every transform of
//! this process (a cold one spends most of a second importing the translator). It runs on a
//! thread of its own, so every runtime (each test has one) can use it, and it ends with this
//! process: its stdin closes, and a watchdog kills its process group.

use std::{
    io::{BufRead, BufReader, Write},
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Child, ChildStdin, Command, Stdio},
    sync::{Arc, Mutex, OnceLock, mpsc},
    time::Duration,
};

use serde_json::Value;
use tokio::sync::oneshot;

/// The translator's server (`python/sam_translate.py`): one JSON request a line on stdin, one
/// JSON answer a line on stdout.
const SAM_TRANSLATE_PY: &str = include_str!("../../python/sam_translate.py");

/// Longest wait for one answer; a translator that takes longer is killed.
const ANSWER_WAIT: Duration = Duration::from_secs(120);
/// Longest wait of a caller, from the moment its request is queued (requests queued behind a
/// hung translator give up too).
const REQUEST_WAIT: Duration = Duration::from_secs(150);

/// How much of the translator's stderr is kept for an error message.
const STDERR_KEPT: usize = 4000;

/// One transform for the translator thread.
struct Request {
    /// The Python that has `aws-sam-translator`.
    python: PathBuf,
    /// The request, one line of JSON.
    line: String,
    /// Where the answer goes.
    reply: oneshot::Sender<Result<Value, String>>,
}

/// Sends `request` (`{"template", "parameters", "region"}`) to the warm translator, started
/// with `python` if it is not running, and returns its answer: `{"template"}` or `{"errors"}`.
pub(crate) async fn translate(python: PathBuf, request: &Value) -> Result<Value, String> {
    let (reply, answer) = oneshot::channel();
    let request = Request {
        python,
        line: request.to_string(),
        reply,
    };
    worker()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .send(request)
        .map_err(|_| "the SAM translator's thread has ended".to_owned())?;
    match tokio::time::timeout(REQUEST_WAIT, answer).await {
        Ok(Ok(answer)) => answer,
        Ok(Err(_)) => Err("the SAM translator's thread dropped the request".to_owned()),
        Err(_) => Err(format!(
            "the SAM translator did not answer within {REQUEST_WAIT:?} (requests queued behind \
             a hung one wait too)"
        )),
    }
}

/// The translator thread's queue, started on first use.
fn worker() -> &'static Mutex<mpsc::Sender<Request>> {
    static WORKER: OnceLock<Mutex<mpsc::Sender<Request>>> = OnceLock::new();
    WORKER.get_or_init(|| {
        let (sender, requests) = mpsc::channel::<Request>();
        std::thread::Builder::new()
            .name("vpclab-sam-translator".into())
            .spawn(move || {
                let mut warm: Option<Warm> = None;
                for request in requests {
                    if warm.as_ref().is_some_and(|w| w.python != request.python) {
                        warm = None;
                    }
                    let answer = serve(&mut warm, &request.python, &request.line);
                    let _ = request.reply.send(answer);
                }
            })
            .expect("a thread for the SAM translator");
        Mutex::new(sender)
    })
}

/// Answers one request on the warm translator, starting it if needed; a translator that died
/// is replaced once.
fn serve(warm: &mut Option<Warm>, python: &Path, line: &str) -> Result<Value, String> {
    for attempt in 0..2 {
        let translator = match warm {
            Some(running) => running,
            None => warm.insert(Warm::start(python)?),
        };
        match translator.ask(line) {
            Ok(answer) => return Ok(answer),
            Err(Asked::TimedOut) => {
                *warm = None;
                return Err(format!(
                    "the SAM translator did not answer within {ANSWER_WAIT:?}"
                ));
            }
            Err(Asked::Died(reason)) => {
                *warm = None;
                if attempt == 1 {
                    return Err(reason);
                }
                tracing::warn!("vpclab: the SAM translator died ({reason}); starting another");
            }
        }
    }
    Err("the SAM translator could not be started".into())
}

/// Why a request got no answer.
enum Asked {
    /// No answer within [`ANSWER_WAIT`].
    TimedOut,
    /// The process ended or wrote something that is not an answer.
    Died(String),
}

/// A running translator; killed on drop (its process group: its watchdog too).
struct Warm {
    /// The Python it runs in.
    python: PathBuf,
    child: Child,
    stdin: ChildStdin,
    /// Its stdout, a line at a time, read on a thread of its own.
    answers: mpsc::Receiver<String>,
    /// The end of its stderr.
    stderr: Arc<Mutex<String>>,
    /// Its exit status, once stopped (its group id may then belong to another process).
    stopped: Option<String>,
}

impl Warm {
    /// Starts the translator in `python`.
    fn start(python: &Path) -> Result<Self, String> {
        let mut child = Command::new(python)
            .args(["-c", SAM_TRANSLATE_PY])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .map_err(|e| format!("could not run {}: {e}", python.display()))?;
        // Its stdin closes when this process ends, and it ends then; the watchdog makes sure.
        crate::watchdog::watch_group(nix::unistd::Pid::from_raw(child.id() as i32), None);
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err("the SAM translator's pipes were not opened".into());
        };
        let (lines, answers) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        let kept = Arc::new(Mutex::new(String::new()));
        let tail = Arc::clone(&kept);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut tail = tail.lock().unwrap_or_else(|e| e.into_inner());
                tail.push_str(&line);
                tail.push('\n');
                if tail.len() > STDERR_KEPT {
                    let cut = tail.len() - STDERR_KEPT;
                    let cut = (cut..tail.len())
                        .find(|i| tail.is_char_boundary(*i))
                        .unwrap_or(0);
                    tail.drain(..cut);
                }
            }
        });
        Ok(Self {
            python: python.to_path_buf(),
            child,
            stdin,
            answers,
            stderr: kept,
            stopped: None,
        })
    }

    /// Writes one request and reads its answer.
    fn ask(&mut self, line: &str) -> Result<Value, Asked> {
        let sent = writeln!(self.stdin, "{line}").and_then(|()| self.stdin.flush());
        if let Err(e) = sent {
            return Err(self.died(&format!("it took no request ({e})")));
        }
        match self.answers.recv_timeout(ANSWER_WAIT) {
            Ok(answer) => serde_json::from_str(&answer)
                .map_err(|e| self.died(&format!("it wrote something else than an answer ({e})"))),
            Err(mpsc::RecvTimeoutError::Timeout) => Err(Asked::TimedOut),
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(self.died("it ended")),
        }
    }

    /// Why the translator is of no use any more, with the end of what it wrote on stderr.
    fn died(&mut self, what: &str) -> Asked {
        let status = self.stop();
        // Give its stderr a moment to be read to the end.
        std::thread::sleep(Duration::from_millis(50));
        let stderr = self
            .stderr
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        Asked::Died(format!(
            "the SAM translator failed: {what} ({status}); its stderr:\n{}",
            stderr.trim()
        ))
    }
}

impl Warm {
    /// Kills its process group (the translator and its watchdog) and reaps it; its exit status.
    fn stop(&mut self) -> String {
        if let Some(status) = &self.stopped {
            return status.clone();
        }
        let group = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
        let status = self.child.wait().map(|s| s.to_string()).unwrap_or_default();
        self.stopped = Some(status.clone());
        status
    }
}

impl Drop for Warm {
    fn drop(&mut self) {
        self.stop();
    }
}
