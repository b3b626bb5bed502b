//! The sealed internet (`<prefix>-inet`) and the AWS-managed Lambda network
//! (`<prefix>-lambda`): public service addresses on the internet side, functions outside any
//! VPC behind a NAT whose address stands for AWS's pool.

use std::{net::SocketAddr, path::Path};

use tokio::task::JoinHandle;

use super::{Fabric, FabricError, Placement, addressing, dns, netns, plan::Plan, services};

/// The internet namespace's name.
pub(crate) fn internet_netns(prefix: &str) -> String {
    format!("{prefix}-inet")
}

/// The AWS-managed Lambda network's namespace.
pub(crate) fn lambda_netns(prefix: &str) -> String {
    format!("{prefix}-lambda")
}

/// The address functions outside a VPC have inside their network.
const LAMBDA_PRIVATE: std::net::Ipv4Addr = std::net::Ipv4Addr::new(169, 254, 76, 2);
const LAMBDA_GATEWAY: std::net::Ipv4Addr = std::net::Ipv4Addr::new(169, 254, 76, 1);

/// Plans both namespaces.
pub(crate) fn plan(plan: &mut Plan, prefix: &str, region: &str) {
    let inet = internet_netns(prefix);
    let lambda = lambda_netns(prefix);
    plan.namespace(&inet);
    plan.sysctl(&inet, "net.ipv4.ip_forward", "1");
    plan.sysctl(&inet, "net.ipv4.conf.all.rp_filter", "0");
    plan.sysctl(&inet, "net.ipv4.conf.default.rp_filter", "0");
    for address in [
        addressing::IFCONFIG_ME,
        addressing::AWS_SERVICES,
        addressing::DYNAMODB,
        addressing::S3,
        addressing::PUBLIC_RESOLVER,
    ] {
        plan.ip(&inet, &format!("addr add {address}/32 dev lo"));
    }
    plan.namespace(&lambda);
    plan.veth(&inet, "lambda", &lambda, "eth0");
    plan.ip(&inet, &format!("addr add {LAMBDA_GATEWAY}/30 dev lambda"));
    let egress = addressing::aws_lambda_egress(region);
    plan.ip(
        &inet,
        &format!("route add {egress}/32 via {LAMBDA_PRIVATE} dev lambda"),
    );
    plan.ip(&lambda, &format!("addr add {LAMBDA_PRIVATE}/30 dev eth0"));
    plan.ip(&lambda, &format!("route add default via {LAMBDA_GATEWAY}"));
    plan.nft(
        &lambda,
        format!(
            "table ip vpclab_aws_nat {{\n\
             \x20 chain post {{\n\
             \x20   type nat hook postrouting priority srcnat; policy accept;\n\
             \x20   oifname \"eth0\" snat to {egress}\n\
             \x20 }}\n\
             }}\n"
        ),
    );
    plan.resolver(&lambda, addressing::PUBLIC_RESOLVER);
}

/// Starts `ifconfig.me`, the service endpoints and the public resolver.
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
    ];
    for service in [
        addressing::AWS_SERVICES,
        addressing::DYNAMODB,
        addressing::S3,
    ] {
        tasks.push(services::service_endpoint(
            netns::tcp_listener(&inet, at(service, 443))?,
            fabric.tls(),
            fabric.emulator,
            None,
        ));
    }
    Ok(tasks)
}

/// Where a function outside any VPC runs.
pub(crate) fn lambda_placement(prefix: &str, region: &str, ca_bundle: &Path) -> Placement {
    Placement {
        netns: lambda_netns(prefix),
        address: LAMBDA_PRIVATE,
        ca_bundle: ca_bundle.to_path_buf(),
        description: format!(
            "the AWS-managed Lambda network, egress {}",
            addressing::aws_lambda_egress(region)
        ),
    }
}
