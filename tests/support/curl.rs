//! `curl` run on a host of the fabric, as a user at that machine would run it (`World::exec`):
//! the host's resolver, routes and security groups, the fabric's CA.

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

/// Runs `curl -i <args> <url>` on `host` of `world` (an instance id or logical id, a
/// namespace, or `internet`), as `vpclab exec <host> -- curl ...` does.
pub async fn curl(world: &World, host: &str, url: &str, args: &[&str]) -> Fetched {
    let mut command = vec!["curl", "-sS", "-i", "--max-time", "10"];
    command.extend_from_slice(args);
    command.push(url);
    let started = std::time::Instant::now();
    let output = world
        .exec(host, &command)
        .await
        .unwrap_or_else(|e| panic!("curl {url} on {host} (apt-get install curl): {e}"));
    if !output.status.success() {
        let mut error = String::from_utf8_lossy(&output.stderr).into_owned();
        if output.status.code() == Some(CURL_COULD_NOT_RESOLVE) {
            error.push_str(&lookup_again(world, host, url, started.elapsed()).await);
        }
        return Fetched::Failed {
            code: output.status.code(),
            error,
        };
    }
    Fetched::Answer(parse(&String::from_utf8_lossy(&output.stdout)))
}

/// curl's exit status when the name did not resolve.
const CURL_COULD_NOT_RESOLVE: i32 = 6;

/// What the host's resolver answers for `url`'s name right after curl could not resolve it
/// (and how long curl tried): tells a lasting wrong answer from a passing one.
async fn lookup_again(world: &World, host: &str, url: &str, tried: std::time::Duration) -> String {
    let name = url
        .split("://")
        .nth(1)
        .and_then(|rest| rest.split(['/', ':']).next())
        .unwrap_or(url);
    let again = match world.exec(host, &["getent", "ahosts", name]).await {
        Ok(output) if output.status.success() => {
            String::from_utf8_lossy(&output.stdout).into_owned()
        }
        Ok(output) => format!("getent exits {:?}", output.status.code()),
        Err(e) => e.to_string(),
    };
    format!("(curl tried for {tried:?}; then on {host}: `getent ahosts {name}` -> {again})")
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
