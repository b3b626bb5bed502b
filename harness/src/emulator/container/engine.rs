//! The container engine: where a Docker API answers (Docker's, or Podman's
//! `podman system service`), its command-line tool, and what to do when none answers.

use std::{
    io::{Read, Write},
    net::TcpStream,
    os::unix::net::UnixStream,
    path::{Path, PathBuf},
    time::Duration,
};

use crate::{emulator::EmulatorError, settings::Settings};

/// The Docker engine's default socket (testcontainers' default too).
pub(crate) const DOCKER_SOCKET: &str = "/var/run/docker.sock";
/// Where `ci/install-container-engine.sh` serves Podman's Docker API.
pub(crate) const PODMAN_SOCKET: &str = "/run/podman/podman.sock";
/// Longest wait for one answer of the engine's API.
const ANSWER_WAIT: Duration = Duration::from_secs(5);

/// Where the engine's Docker API is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ApiAddress {
    /// A unix socket.
    Unix(PathBuf),
    /// `host:port` of a TCP engine (`DOCKER_HOST=tcp://...`).
    Tcp(String),
}

/// A container engine whose Docker API answered.
#[derive(Debug, Clone)]
pub(crate) struct Engine {
    /// Where its API is.
    pub(crate) address: ApiAddress,
    /// Whether it is Podman (its `/version` names a Podman component).
    pub(crate) podman: bool,
}

impl ApiAddress {
    /// Parses a `DOCKER_HOST` value (`unix:///path`, `tcp://host:port`).
    pub(crate) fn parse(value: &str) -> Option<Self> {
        if let Some(path) = value.strip_prefix("unix://") {
            Some(Self::Unix(PathBuf::from(path)))
        } else {
            value
                .strip_prefix("tcp://")
                .or_else(|| value.strip_prefix("http://"))
                .map(|host| Self::Tcp(host.trim_end_matches('/').to_owned()))
        }
    }

    /// The `DOCKER_HOST` form of the address.
    pub(crate) fn docker_host(&self) -> String {
        match self {
            Self::Unix(path) => format!("unix://{}", path.display()),
            Self::Tcp(host) => format!("tcp://{host}"),
        }
    }

    /// `curl`'s options and base URL for the API (for the watchdog, a shell script).
    pub(crate) fn curl_target(&self) -> (Vec<String>, String) {
        match self {
            Self::Unix(socket) => (
                vec!["--unix-socket".to_owned(), socket.display().to_string()],
                "http://engine".to_owned(),
            ),
            Self::Tcp(host) => (Vec::new(), format!("http://{host}")),
        }
    }

    /// One `GET` of the API: the status code and the body. HTTP/1.0, so the engine closes the
    /// connection after the answer.
    pub(crate) fn get(&self, path: &str) -> Result<(u16, String), String> {
        let request = format!("GET {path} HTTP/1.0\r\nHost: engine\r\n\r\n");
        let mut answer = Vec::new();
        match self {
            Self::Unix(socket) => {
                let mut stream = UnixStream::connect(socket).map_err(|e| e.to_string())?;
                stream.set_read_timeout(Some(ANSWER_WAIT)).ok();
                stream.set_write_timeout(Some(ANSWER_WAIT)).ok();
                stream
                    .write_all(request.as_bytes())
                    .and_then(|()| stream.read_to_end(&mut answer))
                    .map_err(|e| e.to_string())?;
            }
            Self::Tcp(host) => {
                let mut stream = TcpStream::connect(host).map_err(|e| e.to_string())?;
                stream.set_read_timeout(Some(ANSWER_WAIT)).ok();
                stream
                    .write_all(request.as_bytes())
                    .and_then(|()| stream.read_to_end(&mut answer))
                    .map_err(|e| e.to_string())?;
            }
        }
        let text = String::from_utf8_lossy(&answer);
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| format!("not an HTTP answer: {:?}", head.lines().next()))?;
        Ok((status, body.to_owned()))
    }
}

impl std::fmt::Display for ApiAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.docker_host())
    }
}

impl Engine {
    /// The engine testcontainers will use: `DOCKER_HOST`, else Docker's default socket. When
    /// neither answers, the error says how to get one (Podman's socket is named if it answers:
    /// testcontainers reads only `DOCKER_HOST` and the default socket).
    pub(crate) fn find(settings: &Settings) -> Result<Self, EmulatorError> {
        let (address, from) = match &settings.docker_host {
            Some(value) => match ApiAddress::parse(value) {
                Some(address) => (address, "DOCKER_HOST"),
                None => {
                    return Err(EmulatorError::NoEngine {
                        tried: format!(
                            "DOCKER_HOST={value} is neither unix:///path nor tcp://host:port"
                        ),
                    });
                }
            },
            None => (
                ApiAddress::Unix(PathBuf::from(DOCKER_SOCKET)),
                "the default socket",
            ),
        };
        match Self::probe(&address) {
            Ok(engine) => Ok(engine),
            Err(reason) => {
                let mut tried = format!("{address} ({from}): {reason}");
                let podman = ApiAddress::Unix(PathBuf::from(PODMAN_SOCKET));
                if settings.docker_host.is_none() && Self::probe(&podman).is_ok() {
                    tried.push_str(&format!(
                        "; Podman answers on {podman}: export DOCKER_HOST={podman}"
                    ));
                }
                Err(EmulatorError::NoEngine { tried })
            }
        }
    }

    /// Whether the API at `address` answers `/version`, and which engine it is.
    fn probe(address: &ApiAddress) -> Result<Self, String> {
        if let ApiAddress::Unix(path) = address
            && !Path::new(path).exists()
        {
            return Err("no such socket".to_owned());
        }
        match address.get("/version")? {
            (200, body) => Ok(Self {
                address: address.clone(),
                podman: body.contains("Podman"),
            }),
            (status, body) => Err(format!("/version answered {status}: {body}")),
        }
    }

    /// The engine's command-line tool (`podman`, else `docker`) and the arguments that point it
    /// at this engine, for the image build (`import`, `image inspect`).
    pub(crate) fn cli(&self) -> Result<(PathBuf, Vec<String>), EmulatorError> {
        let settings = Settings::get();
        let sbin = |tool: &str| {
            settings
                .which(tool)
                .or_else(|| Some(PathBuf::from("/usr/bin").join(tool)).filter(|p| p.exists()))
        };
        if self.podman
            && let Some(podman) = sbin("podman")
        {
            // Rootful Podman's tool reads the same storage as its API service.
            return Ok((podman, Vec::new()));
        }
        match sbin("docker") {
            Some(docker) => Ok((docker, vec!["-H".to_owned(), self.address.docker_host()])),
            None => Err(EmulatorError::MissingTool {
                tool: if self.podman { "podman" } else { "docker" }.to_owned(),
                purpose: "import vpclab's LocalStack image into the container engine".to_owned(),
                install: "bash ci/install-container-engine.sh (Podman), or Docker's CLI".to_owned(),
            }),
        }
    }

    /// Whether an image `name:tag` is in the engine's store.
    pub(crate) fn has_image(&self, reference: &str) -> bool {
        matches!(
            self.address.get(&format!("/images/{reference}/json")),
            Ok((200, _))
        )
    }

    /// Whether a container runs (`None` when the engine does not answer or knows no such
    /// container).
    pub(crate) fn container_running(&self, name: &str) -> Option<bool> {
        match self.address.get(&format!("/containers/{name}/json")) {
            Ok((200, body)) => serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v["State"]["Running"].as_bool()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_host_values_parse() {
        assert_eq!(
            ApiAddress::parse("unix:///run/podman/podman.sock"),
            Some(ApiAddress::Unix(PathBuf::from(PODMAN_SOCKET)))
        );
        assert_eq!(
            ApiAddress::parse("tcp://10.0.0.1:2375"),
            Some(ApiAddress::Tcp("10.0.0.1:2375".into()))
        );
        assert_eq!(ApiAddress::parse("ssh://host"), None);
    }

    #[test]
    fn a_socket_that_does_not_answer_names_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("nothing.sock");
        let settings = Settings {
            docker_host: Some(format!("unix://{}", socket.display())),
            ..Settings::default()
        };
        let message = Engine::find(&settings).unwrap_err().to_string();
        assert!(message.contains(&socket.display().to_string()), "{message}");
        assert!(
            message.contains("ci/install-container-engine.sh"),
            "{message}"
        );
        assert!(message.contains("localstack-host"), "{message}");
    }
}
