//! The emulator answers on loopback only, whichever server and backend run it: a Lambda in a
//! fabric namespace reaches AWS through the paths the fabric gives it, never through another
//! address of this machine.

use rstest::rstest;

use crate::support::world;

/// Every socket the kernel lists as listening on the world's gateway port (`/proc/net/tcp`
/// and `tcp6`) is bound to 127.0.0.1, and there is at least one.
#[rstest]
#[tokio::test(flavor = "multi_thread")]
async fn the_emulator_listens_on_loopback_only() {
    let world = world().await;
    let port: u16 = (world.endpoint_url().rsplit(':').next())
        .and_then(|p| p.trim_end_matches('/').parse().ok())
        .unwrap_or_else(|| panic!("no port in {}", world.endpoint_url()));

    let bound = listening_on(port);

    assert!(!bound.is_empty(), "nothing listens on port {port}");
    assert!(
        bound.iter().all(|address| address == "0100007F"),
        "the gateway port {port} is listened on at {bound:?} (hex, as the kernel lists them): \
         only 127.0.0.1 (0100007F) may be"
    );
    world.shutdown().await.expect("shutdown");
}

/// The local addresses (the kernel's hex) of the sockets listening on `port`, IPv4 and IPv6.
fn listening_on(port: u16) -> Vec<String> {
    const LISTEN: &str = "0A";
    let port = format!("{port:04X}");
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .flat_map(|table| {
            std::fs::read_to_string(table)
                .unwrap_or_else(|e| panic!("reading {table}: {e}"))
                .lines()
                .skip(1)
                .filter_map(|line| {
                    let fields: Vec<&str> = line.split_whitespace().collect();
                    let (address, local_port) = fields.get(1)?.split_once(':')?;
                    (local_port == port && fields.get(3) == Some(&LISTEN))
                        .then(|| address.to_owned())
                })
                .collect::<Vec<_>>()
        })
        .collect()
}
