//! `curl` run on a host of the fabric, as a user at that machine would run it: the host's
//! resolver, routes and security groups, the fabric's CA.

use std::time::Duration;

use vpclab_harness::World;

/// What `curl` got: an HTTP answer, or the error it printed (no answer at all).
#[derive(Debug)]
pub enum Fetched {
    /// The server answered.
    Answer(Answer),
    /// curl's exit status and error message.
    Failed { code: Option<i32>, error: String },
}

/// An HTTP answer.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    /// Header names lowercased.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    /// The first header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

impl Fetched {
    /// The answer; panics with curl's error when there was none.
    pub fn answer(self) -> Answer {
        match self {
            Self::Answer(answer) => answer,
            Self::Failed { code, error } => panic!("curl got no answer ({code:?}): {error}"),
        }
    }
}

/// Runs `curl -i <args> <url>` in network namespace `netns` of `world`'s fabric.
pub async fn curl(world: &World, netns: &str, url: &str, args: &[&str]) -> Fetched {
    let mut command = tokio::process::Command::new("ip");
    command
        .args([
            "netns",
            "exec",
            netns,
            "curl",
            "-sS",
            "-i",
            "--max-time",
            "10",
        ])
        .arg("--cacert")
        .arg(world.fabric().ca_bundle())
        .args(args)
        .arg(url)
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(20), command.output())
        .await
        .unwrap_or_else(|_| panic!("curl {url} in {netns} did not end within 20 s"))
        .unwrap_or_else(|e| panic!("running curl in {netns} (apt-get install curl): {e}"));
    if !output.status.success() {
        return Fetched::Failed {
            code: output.status.code(),
            error: String::from_utf8_lossy(&output.stderr).into_owned(),
        };
    }
    Fetched::Answer(parse(&String::from_utf8_lossy(&output.stdout)))
}

fn parse(raw: &str) -> Answer {
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((raw, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("curl printed no status line: {raw}"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Answer {
        status,
        headers,
        body: body.to_owned(),
    }
}
