//! Commands inside a host of a world, as a user logged into that host would run them: in its
//! network namespace (`ip netns exec` also mounts the namespace's `resolv.conf`, so names
//! resolve through the VPC's resolver) and trusting the fabric's CA.

use std::{
    net::Ipv4Addr,
    path::{Path, PathBuf},
    time::Duration,
};

use crate::fabric::{Host, HostKind};

/// The name of the client on the internet in [`crate::World::hosts`].
pub const INTERNET: &str = "internet";

/// Longest a command run by [`crate::World::exec`] may take.
pub const EXEC_LIMIT: Duration = Duration::from_secs(60);

/// A host a command can run in, with the name people give it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WorldHost {
    /// An instance's logical id (else its instance id); any other host's namespace.
    pub name: String,
    /// The instance id, for an instance.
    pub instance_id: Option<String>,
    /// The ENI the host sits on.
    pub eni_id: String,
    /// Its network namespace.
    pub netns: String,
    /// Its private address.
    pub address: Ipv4Addr,
    /// What it is ("EC2 instance i-… (TestInstance)", "NAT gateway nat-…").
    pub role: String,
    /// The CA bundle its commands trust (the fabric's).
    pub ca_bundle: PathBuf,
}

impl WorldHost {
    /// The fabric's host under the name people give it.
    pub(crate) fn of(host: &Host, ca_bundle: &Path) -> Self {
        let (name, instance_id) = match &host.kind {
            HostKind::Instance { id, logical_id } => (
                logical_id.clone().unwrap_or_else(|| id.clone()),
                Some(id.clone()),
            ),
            _ => (host.netns.clone(), None),
        };
        Self {
            name,
            instance_id,
            eni_id: host.eni_id.clone(),
            netns: host.netns.clone(),
            address: host.address,
            role: host.role.clone(),
            ca_bundle: ca_bundle.to_path_buf(),
        }
    }

    /// The client on the internet side of the fabric, named `internet`.
    pub(crate) fn internet(netns: String, ca_bundle: &Path) -> Self {
        Self {
            name: INTERNET.to_owned(),
            instance_id: None,
            eni_id: "(none: on the internet)".to_owned(),
            netns,
            address: crate::fabric::addressing::INTERNET_CLIENT,
            role: "a client on the internet".to_owned(),
            ca_bundle: ca_bundle.to_path_buf(),
        }
    }

    /// Whether `name` names this host: its name, instance id, namespace or ENI id.
    pub fn answers_to(&self, name: &str) -> bool {
        self.name == name
            || self.instance_id.as_deref() == Some(name)
            || self.netns == name
            || self.eni_id == name
    }

    /// `ip netns exec <netns> env SSL_CERT_FILE=… CURL_CA_BUNDLE=… REQUESTS_CA_BUNDLE=…
    /// <command>`: the command as it runs on this host.
    pub fn command(&self, command: &[&str]) -> std::process::Command {
        let bundle = self.ca_bundle.display().to_string();
        let mut cmd = std::process::Command::new(crate::fabric::ip_tool());
        cmd.args(["netns", "exec", &self.netns, "env"])
            .arg(format!("SSL_CERT_FILE={bundle}"))
            .arg(format!("CURL_CA_BUNDLE={bundle}"))
            .arg(format!("REQUESTS_CA_BUNDLE={bundle}"))
            .args(command);
        cmd
    }
}

/// The host `name` names among `hosts`, or an error listing the names they answer to.
pub fn find_host<'a>(hosts: &'a [WorldHost], name: &str) -> Result<&'a WorldHost, ExecError> {
    hosts
        .iter()
        .find(|h| h.answers_to(name))
        .ok_or_else(|| ExecError::UnknownHost {
            host: name.to_owned(),
            known: known_names(hosts),
        })
}

/// One line per host: its name, then its instance id and namespace, and what it is.
fn known_names(hosts: &[WorldHost]) -> String {
    if hosts.is_empty() {
        return "none (the world has no host yet)".to_owned();
    }
    hosts
        .iter()
        .map(|h| {
            let mut names = vec![h.name.clone()];
            names.extend(h.instance_id.clone().filter(|id| *id != h.name));
            if h.netns != h.name {
                names.push(h.netns.clone());
            }
            format!("\n  {} ({})", names.join(" = "), h.role)
        })
        .collect()
}

/// Why a command could not run inside a host.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// No host answers to the name.
    #[error(
        "no host {host:?} in this world; give a logical id, instance id, namespace or ENI id of one of:{known}"
    )]
    UnknownHost {
        /// The name asked for.
        host: String,
        /// The hosts there are, one a line.
        known: String,
    },
    /// No command was given.
    #[error("no command to run in host {host}")]
    NoCommand {
        /// The host.
        host: String,
    },
    /// `ip netns exec` could not be started.
    #[error("cannot run `{command}` in host {host} ({netns}): {source}")]
    Spawn {
        /// The command.
        command: String,
        /// The host's name.
        host: String,
        /// Its namespace.
        netns: String,
        /// Why.
        source: std::io::Error,
    },
    /// The command did not finish in time (it was killed).
    #[error("waited {limit:?} for `{command}` to finish in host {host} ({netns}); it was killed")]
    Timeout {
        /// The command.
        command: String,
        /// The host's name.
        host: String,
        /// Its namespace.
        netns: String,
        /// How long it waited.
        limit: Duration,
    },
}

/// Runs `command` in `host`, bounded by `limit`; its output.
pub(crate) async fn run(
    host: &WorldHost,
    command: &[&str],
    limit: Duration,
) -> Result<std::process::Output, ExecError> {
    if command.is_empty() {
        return Err(ExecError::NoCommand {
            host: host.name.clone(),
        });
    }
    let mut cmd = tokio::process::Command::from(host.command(command));
    cmd.stdin(std::process::Stdio::null()).kill_on_drop(true);
    let shown = command.join(" ");
    match tokio::time::timeout(limit, cmd.output()).await {
        Ok(output) => output.map_err(|source| ExecError::Spawn {
            command: shown,
            host: host.name.clone(),
            netns: host.netns.clone(),
            source,
        }),
        Err(_) => Err(ExecError::Timeout {
            command: shown,
            host: host.name.clone(),
            netns: host.netns.clone(),
            limit,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(name: &str, instance: Option<&str>, netns: &str) -> WorldHost {
        WorldHost {
            name: name.into(),
            instance_id: instance.map(Into::into),
            eni_id: format!("eni-{name}"),
            netns: netns.into(),
            address: Ipv4Addr::new(10, 0, 1, 4),
            role: "EC2 instance".into(),
            ca_bundle: PathBuf::from("/ca.pem"),
        }
    }

    #[test]
    fn a_host_answers_to_each_of_its_names_and_an_unknown_one_lists_them() {
        let hosts = [
            host("TestInstance", Some("i-1"), "vl1-eni-1"),
            host("vl1-eni-2", None, "vl1-eni-2"),
        ];
        for name in ["TestInstance", "i-1", "vl1-eni-1", "eni-TestInstance"] {
            assert_eq!(find_host(&hosts, name).unwrap().name, "TestInstance");
        }
        let message = find_host(&hosts, "Nope").unwrap_err().to_string();
        assert!(
            message.contains("TestInstance = i-1 = vl1-eni-1"),
            "{message}"
        );
        assert!(message.contains("\n  vl1-eni-2 ("), "{message}");
    }

    #[test]
    fn the_command_runs_in_the_namespace_with_the_fabric_ca() {
        let cmd = host("h", None, "vl1-eni-9").command(&["curl", "-s", "https://x"]);
        let args: Vec<String> = cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(&args[..4], ["netns", "exec", "vl1-eni-9", "env"]);
        assert!(args.contains(&"SSL_CERT_FILE=/ca.pem".to_owned()));
        assert!(args.contains(&"CURL_CA_BUNDLE=/ca.pem".to_owned()));
        assert!(args.contains(&"REQUESTS_CA_BUNDLE=/ca.pem".to_owned()));
        assert_eq!(&args[args.len() - 3..], ["curl", "-s", "https://x"]);
    }
}
