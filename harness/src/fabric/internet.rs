//! The sealed internet (`<prefix>-inet`) and the AWS-managed Lambda network
//! (`<prefix>-lambda`): public service addresses on the internet side, functions outside any
//! VPC behind a NAT whose address stands for AWS's pool.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
};

use tokio::task::JoinHandle;

use ipnet::Ipv4Net;

use super::{
    Fabric, FabricError, Placement, addressing, dns,
    front_door::Door,
    ip_ranges, netns,
    nft::{Chain, Match, Rule, Table, Verdict},
    plan::{End, Plan, Route},
    services,
};

/// The internet namespace's name.
pub(crate) fn internet_netns(prefix: &str) -> String {
    format!("{prefix}-inet")
}

/// The internet client's namespace: a machine on the internet, calling public APIs.
pub(crate) fn client_netns(prefix: &str) -> String {
    format!("{prefix}-client")
}

/// The AWS-managed Lambda network's namespace.
pub(crate) fn lambda_netns(prefix: &str) -> String {
    format!("{prefix}-lambda")
}

/// The address functions outside a VPC have inside their network.
const LAMBDA_PRIVATE: std::net::Ipv4Addr = std::net::Ipv4Addr::new(169, 254, 76, 2);
const LAMBDA_GATEWAY: std::net::Ipv4Addr = std::net::Ipv4Addr::new(169, 254, 76, 1);

/// The internet side of the link to the AWS-managed Lambda network.
const LAMBDA_LINK: &str = "lambda";
/// The internet side of the link to the internet client.
const CLIENT_LINK: &str = "client";

/// Plans both namespaces.
pub(crate) fn plan(plan: &mut Plan, prefix: &str, region: &str) {
    let inet = internet_netns(prefix);
    let lambda = lambda_netns(prefix);
    plan.namespace(&inet);
    plan.sysctls(
        &inet,
        &[
            ("net.ipv4.ip_forward", "1"),
            ("net.ipv4.conf.all.rp_filter", "0"),
            ("net.ipv4.conf.default.rp_filter", "0"),
        ],
    );
    for address in [
        addressing::IFCONFIG_ME,
        addressing::AWS_SERVICES,
        addressing::DYNAMODB,
        addressing::S3,
        addressing::PUBLIC_RESOLVER,
        addressing::IP_RANGES,
    ] {
        plan.address(&inet, "lo", address, 32);
    }
    plan_client(plan, &inet, &client_netns(prefix));
    plan.namespace(&lambda);
    plan.veth(End::new(&inet, LAMBDA_LINK), End::new(&lambda, "eth0"));
    plan.address(&inet, LAMBDA_LINK, LAMBDA_GATEWAY, 30);
    let egress = addressing::aws_lambda_egress(region);
    plan.route(
        &inet,
        Route::via(Ipv4Net::from(egress), LAMBDA_PRIVATE, LAMBDA_LINK),
    );
    plan.address(&lambda, "eth0", LAMBDA_PRIVATE, 30);
    plan.route(&lambda, Route::default_via(LAMBDA_GATEWAY));
    plan.firewall(
        &lambda,
        Table {
            chains: vec![Chain::postrouting(vec![Rule::new(
                vec![Match::OutputName("eth0".into())],
                Verdict::Snat(egress),
            )])],
        },
    );
    plan.resolver(&lambda, addressing::PUBLIC_RESOLVER);
}

/// A machine on the internet: a namespace linked to the internet, with a public address and
/// the public resolver.
fn plan_client(plan: &mut Plan, inet: &str, client: &str) {
    plan.namespace(client);
    plan.veth(End::new(inet, CLIENT_LINK), End::new(client, "eth0"));
    plan.address(inet, CLIENT_LINK, addressing::INTERNET_CLIENT_GATEWAY, 30);
    plan.address(client, "eth0", addressing::INTERNET_CLIENT, 30);
    plan.route(
        client,
        Route::default_via(addressing::INTERNET_CLIENT_GATEWAY),
    );
    plan.resolver(client, addressing::PUBLIC_RESOLVER);
}

/// Starts `ifconfig.me`, `ip-ranges.amazonaws.com`, the service endpoints and the public
/// resolver.
pub(crate) fn start_services(fabric: &Fabric) -> Result<Vec<JoinHandle<()>>, FabricError> {
    let inet = internet_netns(&fabric.prefix);
    let at = |ip, port| SocketAddr::from((ip, port));
    let mut tasks = vec![
        services::ifconfig(
            netns::tcp_listener(&inet, at(addressing::IFCONFIG_ME, 80))?,
            None,
        ),
        services::ifconfig(
            netns::tcp_listener(&inet, at(addressing::IFCONFIG_ME, 443))?,
            Some(fabric.tls()),
        ),
        dns::serve(
            netns::udp_socket(&inet, at(addressing::PUBLIC_RESOLVER, 53))?,
            fabric.zones.clone(),
            None,
        ),
        services::document(
            netns::tcp_listener(&inet, at(addressing::IP_RANGES, 443))?,
            fabric.tls(),
            "/ip-ranges.json",
            bytes::Bytes::from(ip_ranges::document(&fabric.region).to_string()),
        ),
    ];
    for service in [
        addressing::AWS_SERVICES,
        addressing::DYNAMODB,
        addressing::S3,
    ] {
        let routing = services::Routing {
            names: None,
            front_door: Some((fabric.front_door.clone(), Door::Internet)),
        };
        tasks.push(services::service_endpoint(
            netns::tcp_listener(&inet, at(service, 443))?,
            fabric.tls(),
            fabric.emulator,
            routing,
        ));
    }
    Ok(tasks)
}

/// Where a function outside any VPC runs.
pub(crate) fn lambda_placement(
    prefix: &str,
    region: &str,
    ca_bundle: &Path,
    scratch: PathBuf,
) -> Placement {
    Placement {
        netns: lambda_netns(prefix),
        address: LAMBDA_PRIVATE,
        ca_bundle: ca_bundle.to_path_buf(),
        scratch,
        world: prefix.to_owned(),
        description: format!(
            "the AWS-managed Lambda network, egress {}",
            addressing::aws_lambda_egress(region)
        ),
    }
}
