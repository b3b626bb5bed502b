//! Loopback listeners that answer one user only: a function's Runtime API, which functions
//! sharing a namespace (an ENI, or the AWS-managed network) must not reach.
//!
//! Each namespace that holds such a listener gets one nftables table of its own,
//! `inet vpclab_loopback`: a SYN to a listed port from any socket but its owner's is reset.
//! The port is sealed between `bind` and `listen`, so no connection is ever accepted before
//! the rule holds, and the seal is lifted (its set elements deleted) before the port closes.

use std::{
    net::{Ipv4Addr, SocketAddr},
    process::{Command, Stdio},
};

use socket2::{Domain, Socket, Type};

use super::{FabricError, netns};

/// The table holding every seal of a namespace.
const TABLE: &str = "inet vpclab_loopback";

/// A sealed port: its owner's connections only. Dropping it lifts the seal.
#[derive(Debug)]
pub(crate) struct LoopbackSeal {
    netns: String,
    port: u16,
    uid: u32,
}

/// A TCP listener on `127.0.0.1` inside `netns` that only sockets of user `uid` can connect
/// to. Keep the seal as long as the listener.
pub(crate) async fn owned_listener(
    netns_name: &str,
    uid: u32,
) -> Result<(tokio::net::TcpListener, LoopbackSeal), FabricError> {
    let socket = netns::inside(netns_name, || {
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
        socket.bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, 0)).into())?;
        Ok(socket)
    })?;
    let entered = |reason: String| FabricError::Enter {
        netns: netns_name.to_owned(),
        reason,
    };
    let port = socket
        .local_addr()
        .ok()
        .and_then(|a| a.as_socket())
        .map(|a| a.port())
        .ok_or_else(|| entered("the loopback listener has no port".into()))?;
    netns::nft(netns_name, &seal_ruleset(port, uid)).await?;
    let seal = LoopbackSeal {
        netns: netns_name.to_owned(),
        port,
        uid,
    };
    socket
        .listen(128)
        .and_then(|()| socket.set_nonblocking(true))
        .map_err(|e| entered(format!("listen on 127.0.0.1:{port}: {e}")))?;
    let listener = tokio::net::TcpListener::from_std(socket.into())
        .map_err(|e| entered(format!("listener on 127.0.0.1:{port}: {e}")))?;
    Ok((listener, seal))
}

/// The transaction that (re)creates the table's rule and seals `port` to `uid`.
fn seal_ruleset(port: u16, uid: u32) -> String {
    format!(
        "add table {TABLE}\n\
         add set {TABLE} ports {{ typeof tcp dport ; }}\n\
         add set {TABLE} owners {{ typeof tcp dport . meta skuid ; }}\n\
         add chain {TABLE} output {{ type filter hook output priority 0 ; policy accept ; }}\n\
         flush chain {TABLE} output\n\
         add rule {TABLE} output oif \"lo\" tcp flags & (syn | ack) == syn tcp dport @ports \
         tcp dport . meta skuid != @owners reject with tcp reset\n\
         add element {TABLE} ports {{ {port} }}\n\
         add element {TABLE} owners {{ {port} . {uid} }}\n"
    )
}

impl Drop for LoopbackSeal {
    fn drop(&mut self) {
        // Synchronous, so the seal is gone before the listener's port can be bound again.
        let ruleset = format!(
            "delete element {TABLE} ports {{ {} }}\ndelete element {TABLE} owners {{ {} . {} }}\n",
            self.port, self.port, self.uid
        );
        if !netns::exists(&self.netns) {
            return;
        }
        let child = Command::new(super::ip_tool())
            .args(["netns", "exec", &self.netns, "nft", "-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        if let Ok(mut child) = child {
            if let Some(mut stdin) = child.stdin.take() {
                let _ = std::io::Write::write_all(&mut stdin, ruleset.as_bytes());
            }
            let _ = child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seal_lists_the_port_and_its_owner() {
        let ruleset = seal_ruleset(40123, 2_000_000_001);
        assert!(ruleset.contains("add element inet vpclab_loopback ports { 40123 }"));
        assert!(ruleset.contains("owners { 40123 . 2000000001 }"));
        assert!(ruleset.contains("meta skuid != @owners reject with tcp reset"));
    }
}
